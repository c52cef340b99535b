"""``RawArchiver``: the ``archiver`` role's consumer (docs/archive-format.md "Writers").

It reads ``ArchivedRequest`` messages from the raw topic in its consumer group, buffers them by
project and hour (``storage.archive.buffer``), and when the buffer reaches
``OTELFUSE_ARCHIVE_OBJECT_MAX_BYTES`` or ``OTELFUSE_ARCHIVE_OBJECT_MAX_AGE_S`` writes every
buffered object to the blob store, THEN commits the consumed offsets. A failed write is retried
with backoff and nothing is committed meanwhile. A crash (or a rebalance) between the write and
the commit makes the group read those messages again, so the next objects repeat some requests:
readers drop repeated request ids (``storage.archive.reader``), so replay reads each request
once. A message that is not an ``ArchivedRequest`` is logged, counted and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError
from google.protobuf.message import DecodeError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from processors.kafka.config import ConsumerConfig
from processors.kafka.fetch import fetch_until_stopped
from storage.archive import ArchiveConfig, ArchivedRequest
from storage.archive.buffer import ArchiveBuffer
from storage.archive.queue import RETRY_MAX_S, RETRY_MIN_S, write_with_retry
from storage.archive.telemetry import ARCHIVE_METRICS
from storage.blobs.store import BlobStore

__all__ = ["RawArchiver"]

log = logging.getLogger(__name__)

_FETCH_MAX = 1000


class RawArchiver:
    """Consumes the raw topic into archive objects (module docstring).

    Args:
        consumer: brokers, client id and group timings (the group id and topic come from
            ``archive``).
        archive: topic, consumer group, object size and age.
        store: where objects go.
    """

    def __init__(self, consumer: ConsumerConfig, archive: ArchiveConfig, store: BlobStore) -> None:
        self.consumer_config = consumer
        self.archive = archive
        self.store = store
        self._buffer = ArchiveBuffer(archive.object_max_bytes, archive.object_max_age_s)
        self._stopping = asyncio.Event()
        self._consumer: Any = None
        self.committed_batches = 0
        """Batches written and committed (for health and tests)."""

    async def run(self) -> None:
        """Consume until ``stop``; writes and commits what is buffered before returning.

        Raises:
            KafkaError: a non-retriable consumer error.
        """
        c = self.consumer_config
        consumer = AIOKafkaConsumer(
            self.archive.raw_topic,
            bootstrap_servers=c.bootstrap_servers,
            group_id=self.archive.archiver_group,
            client_id=f"{c.client_id}-archiver",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=c.session_timeout_ms,
            heartbeat_interval_ms=c.heartbeat_interval_ms,
            max_poll_interval_ms=c.max_poll_interval_ms,
            rebalance_timeout_ms=c.rebalance_timeout_ms,
        )
        if not await self._start(consumer):
            return
        self._consumer = consumer
        try:
            while not self._stopping.is_set():
                wait = self._buffer.seconds_until_due()
                fetched = await self._fetch(self.archive.object_max_age_s if wait is None else wait)
                for messages in fetched.values():
                    for message in messages:
                        self._add(message.value)
                if self._buffer.due():
                    await self._write_and_commit()
            await self._write_and_commit()
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        """Ask ``run`` to write, commit and return."""
        self._stopping.set()

    def _add(self, value: bytes) -> None:
        try:
            request = ArchivedRequest.FromString(value)
        except DecodeError as exc:
            ARCHIVE_METRICS.skipped.inc()
            log.error("archiver: skipping a message that is not an ArchivedRequest: %s", exc)
            return
        self._buffer.add(request)
        ARCHIVE_METRICS.queued_bytes.set(self._buffer.size)

    async def _fetch(self, wait_s: float) -> Mapping[Any, list[Any]]:
        try:
            return await fetch_until_stopped(
                self._consumer,
                self._stopping,
                timeout_ms=max(1, int(wait_s * 1000)),
                max_records=_FETCH_MAX,
            )
        except KafkaError as exc:
            log.warning("archiver: fetch failed, retrying: %r", exc)
            await self._sleep(RETRY_MIN_S)
            return {}

    async def _write_and_commit(self) -> None:
        """Write every buffered object (retrying; while stopping, a few times), then commit."""
        objects = self._buffer.take()
        for pending in objects:
            if not await write_with_retry(self.store, pending, self._stopping.is_set, "archiver"):
                log.error("archiver: stopping without committing (store unavailable)")
                return  # not committed: the group reads these messages again
        ARCHIVE_METRICS.queued_bytes.set(0)
        try:
            await self._consumer.commit()
        except (CommitFailedError, KafkaError) as exc:
            # a rebalance took the partitions: their new owner reads the messages again and
            # readers drop the repeated requests
            log.warning("archiver: commit failed after writing (%r); duplicates follow", exc)
            return
        if objects:
            self.committed_batches += 1

    async def _start(self, consumer: AIOKafkaConsumer) -> bool:
        """Start ``consumer``, retrying while Kafka is unreachable (0.2 s doubling up to 10 s,
        tenacity); False when ``stop`` came first."""

        def unreachable(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            servers = self.consumer_config.bootstrap_servers
            log.warning("archiver: cannot reach Kafka at %s: %r", servers, exc)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(KafkaError),
            wait=wait_exponential(multiplier=RETRY_MIN_S, max=RETRY_MAX_S),
            stop=lambda _: self._stopping.is_set(),
            before_sleep=unreachable,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await consumer.start()
        except KafkaError:
            return False  # stopped while Kafka was unreachable
        return True

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
