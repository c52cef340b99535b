"""Where receivers hand what they accepted: records and scores, durable on return.

- ``RecordSink``: observation and trace records. The in-process ``Pipeline`` (all-in-one) or the
  ``KafkaPublisher`` (scale-out).
- ``ScoreSink``: score records. ``ThreadedScoreSink`` over the ClickHouse score writer
  (all-in-one) or the ``KafkaPublisher`` (scale-out).

``EnrichingSink`` wraps a receiver worker's record sink (all-in-one, ``OTELFUSE_WORKERS`` > 1):
it enriches the records before handing them on (``processors.batch.enrich_ahead``).

Both report records refused for good (too large to ever be stored) by index, so the receiver
answers for each one and loses nothing silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from processors.batch import ScoreWriterLike, enrich_ahead
from processors.enrich import Enricher
from storage.records import ObservationRecord, ScoreRecord

__all__ = ["EncodedRecordSink", "EnrichingSink", "RecordSink", "ScoreSink", "ThreadedScoreSink"]


class RecordSink(Protocol):
    """Where receivers hand mapped records: the in-process ``Pipeline`` (all-in-one) or the
    ``KafkaPublisher`` (scale-out). ``submit`` returns once the records are durable."""

    def has_room(self, records: int = 1) -> bool:
        """False when new work would be refused (admission control before decoding)."""
        ...

    async def submit(self, records: Sequence[ObservationRecord]) -> Mapping[int, str]:
        """Make ``records`` durable; return the reason for each record refused for good (too
        large to ever be stored), by its index in ``records``; the others are durable.

        Raises:
            RetryableError: nothing of this call is guaranteed durable; the client retries.
            PermanentError: the records can never be stored.
        """
        ...


@runtime_checkable
class EncodedRecordSink(RecordSink, Protocol):
    """A ``RecordSink`` that can be handed the records' serializations with them (the
    ``KafkaPublisher``): the claim check (``ingest.offload.OffloadingSink``) sizes each record
    by its serialization and hands it on, instead of ``ByteSize`` there and ``SerializeToString``
    in the packer, each of which encodes the record (≈ 7,400 instructions per span of
    ``bench.spans``, docs/benchmarks.md "Receiver outside the mapping, fourth round")."""

    async def submit_encoded(
        self, records: Sequence[ObservationRecord], encoded: Sequence[bytes] | None
    ) -> Mapping[int, str]:
        """As ``submit``; ``encoded[i]`` is ``records[i].SerializeToString()`` (or ``None``:
        none given).

        Raises:
            RetryableError: nothing of this call is guaranteed durable; the client retries.
            PermanentError: the records can never be stored.
        """
        ...


class ScoreSink(Protocol):
    """Where score receivers hand validated scores; returns once they are durable."""

    async def submit_scores(self, records: Sequence[ScoreRecord]) -> Mapping[int, str]:
        """Store ``records``; return the reason for each record refused for good (too large to
        ever be stored), by its index in ``records``; the others are durable.

        Raises:
            RetryableError: nothing of this call is guaranteed durable; the client retries.
            PermanentError: the records can never be stored.
        """
        ...


@dataclass(slots=True)
class ThreadedScoreSink:
    """All-in-one sink: ``ScoreWriter.write_scores`` in a worker thread."""

    writer: ScoreWriterLike

    async def submit_scores(self, records: Sequence[ScoreRecord]) -> dict[int, str]:
        """Write ``records`` off the event loop; returns ``{}`` after the insert succeeded."""
        if records:
            await asyncio.to_thread(self.writer.write_scores, list(records))
        return {}


class EnrichingSink:
    """A receiver worker's ``RecordSink``: enriches the records ``enrich_ahead`` may enrich (full
    span records, marked ``enriched``; the owner's process step keeps their enrichment and
    counts their tokens and cost) in a thread of its own, then submits them to ``inner`` (the
    owner channel).

    Args:
        inner: the worker's sink to the owner (``ingest.ipc.OwnerChannel``).
        enricher: built like the owner's (``ingest.app.processing.enricher_for``), so both
            compute the same enrichment.

    One thread: the enricher's caches see one caller at a time, as in the owner's pipeline,
    and the GIL gives a second thread nothing to run in parallel. ``close`` stops it.
    """

    def __init__(self, inner: RecordSink, enricher: Enricher) -> None:
        self._inner = inner
        self._enricher = enricher
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="otelfuse-enrich")

    def has_room(self, records: int = 1) -> bool:
        """As the inner sink."""
        return self._inner.has_room(records)

    async def submit(self, records: Sequence[ObservationRecord]) -> Mapping[int, str]:
        """Enrich (records changed in place), then submit to the inner sink.

        Raises:
            what the inner sink raises (the enricher never raises for a record).
        """
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, enrich_ahead, self._enricher, records)
        return await self._inner.submit(records)

    async def close(self) -> None:
        """Wait for the enrichment in progress (off the event loop: it may wait on PostgreSQL
        reads that run there), then stop the thread."""
        await asyncio.to_thread(self._thread.shutdown, True)
