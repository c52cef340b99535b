"""The in-process queue between receivers and the processor (all-in-one mode).

Receivers ``submit`` the records of one export and wait: the call returns only after the batch
holding those records was enriched and written: success only once the data is durable
(docs/architecture.md "Guarantees and how they are met"). The queue is bounded in records; when
it is full ``submit`` raises ``Overloaded`` at once, so the receiver answers 503 + Retry-After /
gRPC UNAVAILABLE and the client retries. Nothing is dropped silently.

Batches are cut by size or time, like the collector's batch processor
(docs/reference/style.md §1.6): a batch is flushed when it holds ``batch.max_records`` records or
``batch.timeout_ms`` after its first record arrived (``processors.batching``): records that
arrived while the previous batch was being written join the next batch at once, and it is
flushed without a new wait once their window has passed. One batch is written at a time, in a
worker thread, while the next one fills; an export larger than a batch is split.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from processors.batching import BatchConfig
from storage.errors import RetryableError
from storage.records import ObservationRecord

__all__ = [
    "DEFAULT_MAX_QUEUED_RECORDS",
    "BatchStats",
    "Overloaded",
    "Pipeline",
    "PipelineConfig",
    "Process",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED_RECORDS = 50_000
"""Records accepted but not yet written (queued plus being written) before ``Overloaded``."""

Process = Callable[[Sequence[ObservationRecord]], object]
"""Enrich-and-write step for one batch; runs in a worker thread; raises on failure."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineConfig:
    """Capacity and batching of ``Pipeline``.

    Attributes:
        max_queued_records: capacity of the queue, in records (queued plus being written);
            at least ``batch.max_records``.
        batch: when a batch is flushed (``processors.batching.BatchConfig``).

    Raises:
        ValueError: ``max_queued_records < batch.max_records``.
    """

    max_queued_records: int = DEFAULT_MAX_QUEUED_RECORDS
    batch: BatchConfig = field(default_factory=BatchConfig)

    def __post_init__(self) -> None:
        if self.max_queued_records < self.batch.max_records:
            raise ValueError(
                f"invalid pipeline config: max_queued_records ({self.max_queued_records}) must "
                f"be >= batch.max_records ({self.batch.max_records})"
            )


class Overloaded(RetryableError):
    """The queue is full; retry after ``retry_after_s`` seconds."""


@dataclass(slots=True)
class _Pending:
    records: Sequence[ObservationRecord]
    done: asyncio.Future[None]
    arrived: float
    """Event-loop time (s) at which the records were queued."""


@dataclass(slots=True)
class BatchStats:
    """Counters of the batches written so far (for metrics and tests)."""

    batches: int = 0
    records: int = 0
    failed_batches: int = 0
    last_batch_s: float = 0.0
    triggers: dict[str, int] = field(default_factory=dict)
    """Batches by what cut them: ``size`` or ``timeout``."""


class Pipeline:
    """Bounded, batching hand-off from receivers to ``process`` (enrich + write).

    Args:
        process: called with each batch (a list of records) in a worker thread.
        config: queue capacity and batch limits; default ``PipelineConfig()``.
    """

    def __init__(self, process: Process, config: PipelineConfig | None = None) -> None:
        config = PipelineConfig() if config is None else config
        self.config = config
        self._process = process
        self._capacity = config.max_queued_records
        self._max_batch = config.batch.max_records
        self._timeout = config.batch.timeout_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._in_flight = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = BatchStats()

    @property
    def queued_records(self) -> int:
        """Records accepted but not yet written."""
        return self._in_flight

    @property
    def capacity(self) -> int:
        """Queue capacity in records."""
        return self._capacity

    def has_room(self, records: int = 1) -> bool:
        """True when ``records`` more records would be accepted now (admission control)."""
        if self._closing:
            return False
        return self._in_flight == 0 or self._in_flight + records <= self._capacity

    async def start(self) -> None:
        """Start the batching loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="otelfuse-pipeline")

    async def submit(self, records: Sequence[ObservationRecord]) -> dict[int, str]:
        """Queue ``records`` and wait until they are written; returns ``{}`` (none refused).

        More than ``batch.max_records`` records are queued as several parts, each written in
        its own batch, so that one large export never holds the writer for one huge insert; the
        call returns when every part is written (a failed part fails the call: the client
        resends, and rewriting the parts already written is harmless, rows are keyed by id).

        Raises:
            Overloaded: the queue is full or the pipeline is stopping (retryable).
            RetryableError / PermanentError: the write of their batch failed.
        """
        if not records:
            return {}
        if not self.has_room(len(records)):
            raise Overloaded(
                f"ingest queue full ({self._in_flight}/{self._capacity} records)",
                retry_after_s=1.0,
            )
        loop = asyncio.get_running_loop()
        self._in_flight += len(records)
        waiting: list[asyncio.Future[None]] = []
        for start in range(0, len(records), self._max_batch):  # a large export: several batches
            done: asyncio.Future[None] = loop.create_future()
            part = records[start : start + self._max_batch]
            self._queue.put_nowait(_Pending(part, done, loop.time()))
            waiting.append(done)
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return {}

    async def stop(self) -> None:
        """Refuse new records, write everything queued, then stop. Safe to call twice."""
        self._closing = True
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            batch = [first]
            size = len(first.records)
            # The window runs from the first record's arrival, not from when this loop got to
            # it: records that waited behind the previous write are not held a second window.
            deadline = first.arrived + self._timeout
            trigger = "timeout"
            while size < self._max_batch:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                else:  # already queued: joins the batch whatever the time
                    item = self._queue.get_nowait()
                batch.append(item)
                size += len(item.records)
            else:
                trigger = "size"
            await self._flush(batch, size, trigger)

    async def _flush(self, batch: list[_Pending], size: int, trigger: str) -> None:
        records: list[ObservationRecord] = []
        for item in batch:
            records.extend(item.records)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            await asyncio.to_thread(self._process, records)
        except Exception as exc:  # every failure goes back to the waiting clients
            log.warning("batch of %d records failed: %s", size, exc)
            error = exc
            self.stats.failed_batches += 1
        self.stats.batches += 1
        self.stats.records += size
        self.stats.triggers[trigger] = self.stats.triggers.get(trigger, 0) + 1
        self.stats.last_batch_s = time.perf_counter() - started
        for item in batch:
            self._in_flight -= len(item.records)
            if not item.done.done():
                if error is None:
                    item.done.set_result(None)
                else:
                    item.done.set_exception(error)
            self._queue.task_done()
