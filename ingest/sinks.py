"""Where receivers hand what they accepted: records and scores, durable on return.

- ``RecordSink``: observation and trace records. The in-process ``Pipeline`` (all-in-one) or the
  ``KafkaPublisher`` (scale-out).
- ``ScoreSink``: score records. ``ThreadedScoreSink`` over the ClickHouse score writer
  (all-in-one) or the ``KafkaPublisher`` (scale-out).

Both report records refused for good (too large to ever be stored) by index, so the receiver
answers for each one and loses nothing silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from processors.batch import ScoreWriterLike
from storage.records import ObservationRecord, ScoreRecord

__all__ = ["RecordSink", "ScoreSink", "ThreadedScoreSink"]


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
