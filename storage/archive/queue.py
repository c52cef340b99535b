"""``ArchiveQueue``: the all-in-one's archive, off the export's answer path
(docs/archive-format.md "Writers").

An accepted request is added to an ``ArchiveBuffer`` and the export is answered at once; a
background task cuts the buffer by size or age, compresses each object in a worker thread and
writes it to the blob store. A failed write is retried with backoff, keeping the buffer (its
bytes stay counted), so while the store is down the queue fills and ``has_room`` turns False:
receivers then answer 503 + ``Retry-After`` / UNAVAILABLE before decoding (backpressure, as
for the ingest queue) instead of dropping archive data. ``stop`` writes what is buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from storage._pb.otelfuse.v1.records_pb2 import ArchivedRequest
from storage.archive.buffer import ArchiveBuffer, PendingObject
from storage.archive.config import ArchiveConfig
from storage.archive.format import CONTENT_TYPE, encode_object
from storage.archive.telemetry import ARCHIVE_METRICS
from storage.blobs.store import BlobStore

__all__ = ["STOP_ATTEMPTS", "ArchiveQueue", "write_object", "write_with_retry"]

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.2
"""First wait after a failed object write, in seconds; it doubles up to ``RETRY_MAX_S``."""
RETRY_MAX_S = 10.0
STOP_ATTEMPTS = 5
"""Attempts per object once the writer is stopping; then it gives up on that object."""


async def write_object(store: BlobStore, pending: PendingObject) -> int:
    """Compress ``pending`` (in a worker thread) and put it under its key; returns the
    compressed size. Raises what ``store.put`` raises."""
    data = await asyncio.to_thread(encode_object, pending.frames)
    await store.put(pending.key, data, CONTENT_TYPE)
    ARCHIVE_METRICS.written(len(pending.frames), pending.size, len(data))
    return len(data)


async def write_with_retry(
    store: BlobStore, pending: PendingObject, stopping: Callable[[], bool], writer: str
) -> bool:
    """``write_object`` until it succeeds; True once written, False when given up.

    The shared retry rule of both archive writers (this module's ``ArchiveQueue`` and the
    ``archiver`` role, ``processors.kafka.archiver``): waits 0.2, 0.4, 0.8 ... up to 10 s
    between attempts (tenacity's ``wait_exponential``); retries for as long as it takes until
    ``stopping()`` is true, then gives up once the object had ``STOP_ATTEMPTS`` attempts. Each
    failure is counted (``otelfuse_archive_write_errors_total``) and logged under ``writer``.
    Never raises for a failed write.
    """

    def failed(state: RetryCallState) -> None:
        ARCHIVE_METRICS.write_errors.inc()
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning("%s: writing %s failed (%s)", writer, pending.key, exc)

    def give_up(state: RetryCallState) -> bool:
        return stopping() and state.attempt_number >= STOP_ATTEMPTS

    retrying = AsyncRetrying(
        wait=wait_exponential(multiplier=RETRY_MIN_S, max=RETRY_MAX_S),
        stop=give_up,
        after=failed,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                await write_object(store, pending)
    except Exception:
        log.error("%s: gave up on %s (%d requests)", writer, pending.key, len(pending.frames))
        return False
    return True


class ArchiveQueue:
    """Bounded in-process archive (module docstring); ``start`` / ``stop`` around use.

    Args:
        store: where objects go (``storage.blobs``).
        config: object size and age limits, queue bound in bytes.
    """

    def __init__(self, store: BlobStore, config: ArchiveConfig) -> None:
        self.store = store
        self.config = config
        self._buffer = ArchiveBuffer(config.object_max_bytes, config.object_max_age_s)
        self._queued = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def queued_bytes(self) -> int:
        """Request bytes accepted but not yet written."""
        return self._queued

    def has_room(self) -> bool:
        """False while the accepted-but-unwritten bytes are at the bound."""
        room = self._queued < self.config.queue_max_bytes
        if not room:
            ARCHIVE_METRICS.refused.inc()
        return room

    async def submit(self, request: ArchivedRequest) -> None:
        """Buffer ``request`` (returns at once; the flusher writes it)."""
        first = self._buffer.requests == 0
        self._queued += self._buffer.add(request)
        ARCHIVE_METRICS.queued_bytes.set(self._queued)
        if first or self._buffer.due():
            self._wake.set()  # the flusher (re)starts its age timer, or cuts now

    async def start(self) -> None:
        """Start the background flusher."""
        self._task = asyncio.create_task(self._run(), name="otelfuse-archive-flusher")

    async def stop(self) -> None:
        """Write every buffered request (a few attempts), then stop the flusher."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._queued:
            log.error("archive: %d request bytes could not be written before stop", self._queued)

    async def flush(self) -> None:
        """Cut and write the buffer now (retrying until written)."""
        await self._write(self._buffer.take())

    async def _run(self) -> None:
        while not self._stopping:
            timeout = self._buffer.seconds_until_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            self._wake.clear()
            if self._buffer.due():
                await self._write(self._buffer.take())
        await self._write(self._buffer.take())

    async def _write(self, objects: list[PendingObject]) -> None:
        for pending in objects:
            await write_with_retry(self.store, pending, lambda: self._stopping, "archive")
            self._queued -= pending.size
            ARCHIVE_METRICS.queued_bytes.set(self._queued)
