"""The processor role's Kafka consumer (scale-out mode): observations and scores topics →
process → commit.

Each message value on the observations topic is one ``ObservationBatch``, on the scores topic
one ``ScoreBatch``, partitioned by trace id (``storage.records``, ``ingest.kafka``).
``RecordConsumer`` reads both topics in one consumer group and hands each batch's
``ObservationRecord`` s to the process step (production: ``processors.merge``'s
``MergeThenEnrichAndWrite``) and its ``ScoreRecord`` s to the score step (production:
``processors.batch.WriteScores``), committing offsets only after both returned (docs/architecture.md
"Guarantees"; docs/reference/style.md §4):

1. **Batching.** ``getmany`` feeds a batch that is flushed when it holds ``batch.max_records``
   records (observations and scores alike), or ``batch.timeout_ms`` after its first message
   arrived (collector batch processor rule, docs/reference/style.md §1.6). A batch spans partitions
   and topics and is cut after the message that reaches the size, so it overshoots by less than
   one message; the messages fetched beyond it start the next batch.
2. **Decode.** A value that is not an ``ObservationBatch`` (a ``ScoreBatch`` on the scores
   topic), has no value, or decodes to a batch without records (an empty value, or bytes
   protobuf reads as unknown fields only) is poison: ``PermanentError``, dead-lettered
   (``processors.kafka.dead_letter``), then committed with the batch (decoding:
   ``processors.kafka.messages``).
3. **Process and commit.** The observation step, then the score step, run in a worker thread
   (``asyncio.to_thread``).
   Success: commit ``{partition: last offset + 1}`` for every partition of the batch.
   ``RetryableError`` or any unknown exception: no commit; the batch and any message fetched
   after it are dropped and their partitions rewound (``seek``) to the batch's first offsets; the
   consumer waits (exponential backoff with jitter, ``backoff_initial_s`` doubling up to
   ``backoff_max_s``) and reads the same messages again. Rewinding rather than keeping the
   batch in memory keeps ``getmany`` running (so ``max_poll_interval_ms`` is honoured and
   rebalances proceed normally) and leaves nothing in memory that a rebalance could make stale:
   a partition that moved away is simply read again by its new owner from the committed offset.
   ``PermanentError`` from the process step: the batch is bisected by message until each failing
   message is isolated; those are dead-lettered (with the error), the others are processed, and
   the batch is committed, so one bad record can never block a partition (the unit dead-lettered
   is the whole Kafka message, original bytes, so it can be replayed as is). A failing
   dead-letter write is retryable (no commit).
4. **Rebalances.** ``on_partitions_revoked`` flushes the batch in progress (process + commit,
   one attempt, no backoff) before the partitions go away; ``on_partitions_assigned`` calls the
   ``on_assign`` hook (production: ``ClickHouseWriter.clear_cache``, since another processor may
   have changed the traces of re-assigned partitions). A commit that fails because the group
   rebalanced is counted and logged: the batch was written, so its redelivery to the new owner
   is harmless (rows keyed by id, ReplacingMergeTree).
5. **Stop.** ``stop()`` stops fetching, flushes the current batch (one attempt), leaves the group
   (``consumer.stop()``) and closes the dead-letter producer; ``run()`` then returns.
6. **Start.** ``run()`` retries connecting (dead-letter producer, then consumer) with the same
   backoff while the cluster is unreachable, so a processor started during a broker outage
   starts consuming once the broker is back rather than running without a consumer.

7. **Lag.** Every ``lag_interval_s`` a helper task sets three gauges
   (``processors.kafka.telemetry``): this processor's own lag (high watermark minus position over
   the partitions it holds; NaN while it holds none, never a misleading 0), the number of
   partitions it holds, and the group's lag over every partition whoever holds it
   (``processors.kafka.lag``), which is what the lag alert watches: it is right during a group
   join, when no processor holds anything (issue 15 item 6; docs/operations.md
   "OtelfuseConsumerLag").

Nothing depends on tansu's quirks (docs/reference/test-services.md §1): offsets come from the
group's commits with ``auto_offset_reset="earliest"`` (never ``seek_to_end``/``end_offsets``), lag
uses the fetch high watermark, and the dead-letter producer does not need idempotence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from processors.kafka.backoff import backoff_delay
from processors.kafka.config import ConsumerConfig
from processors.kafka.dead_letter import DeadLetterQueue
from processors.kafka.fetch import fetch_until_stopped
from processors.kafka.lag import GroupLag
from processors.kafka.messages import FetchedMessage, MessageBatch, Record, decode_message
from processors.kafka.stats import ConsumerStats
from processors.kafka.telemetry import CONSUMER_METRICS
from storage.errors import PermanentError
from storage.records import ObservationRecord, ScoreRecord

__all__ = ["Process", "ProcessScores", "RecordConsumer"]

log = logging.getLogger(__name__)

Process = Callable[[Sequence[ObservationRecord]], object]
"""Enrich-and-write step for one batch's observation records; runs in a worker thread; raises
on failure."""

ProcessScores = Callable[[Sequence[ScoreRecord]], object]
"""Write step for one batch's score records; runs in a worker thread; raises on failure."""


_MEASURE_TIMEOUT_S = 5.0
"""A group-lag measurement whose fetches did not all come back by then reads NaN (seconds)."""


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Forwards aiokafka's rebalance callbacks to the owning ``RecordConsumer``."""

    def __init__(self, owner: RecordConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Flush the batch in progress before ``revoked`` go away."""
        await self._owner._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Record ``assigned`` and run the ``on_assign`` hook."""
        await self._owner._on_assigned(assigned)


class RecordConsumer:
    """Consumes the observations (and scores) topic at least once (see the module docstring).

    Args:
        config: Kafka and batching settings.
        process: called with each batch's observation records in a worker thread (not called
            when there are none); raises ``RetryableError`` (or anything else) to have the
            batch retried, ``PermanentError`` to have its messages dead-lettered.
        process_scores: the same for score records; required when ``config.scores_topic`` is
            set.
        on_assign: called (on the event loop, while no batch is being processed) after every
            partition assignment.
        dead_letter_queue: where permanently failing messages go; default: a
            ``DeadLetterQueue`` on ``config.dead_letter_topic`` (tests pass their own).

    Usage::

        consumer = RecordConsumer(config, EnrichAndWrite(enricher, writer),
                                  process_scores=WriteScores(score_writer),
                                  on_assign=writer.clear_cache)
        task = asyncio.create_task(consumer.run())
        ...                      # on SIGTERM:
        await consumer.stop()    # flushes, commits, leaves the group; then ``task`` completes
    """

    def __init__(
        self,
        config: ConsumerConfig,
        process: Process,
        *,
        process_scores: ProcessScores | None = None,
        on_assign: Callable[[], object] | None = None,
        dead_letter_queue: DeadLetterQueue | None = None,
    ) -> None:
        if config.scores_topic and process_scores is None:
            raise ValueError("process_scores is required when scores_topic is set")
        self.config = config
        self.stats = ConsumerStats()
        self._process = process
        self._process_scores = process_scores
        self._on_assign = on_assign
        self._dlq = dead_letter_queue or DeadLetterQueue(
            config.bootstrap_servers,
            config.dead_letter_topic,
            client_id=f"{config.client_id}-dlq",
        )
        self._consumer: Any = None  # AIOKafkaConsumer once running
        self._batch = MessageBatch()
        self._lock = asyncio.Lock()  # one flush (process + commit) at a time
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._started = False
        self._attempt = 0  # consecutive retryable failures
        self._assignment: frozenset[TopicPartition] = frozenset()

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """Partitions assigned by the last rebalance."""
        return self._assignment

    @property
    def pending_records(self) -> int:
        """Records fetched into the current batch and not yet flushed."""
        return self._batch.records

    async def run(self) -> None:
        """Join the group and consume until ``stop()``; returns after the final flush.

        While the cluster cannot be reached at start, connecting is retried with the retry
        backoff until it succeeds or ``stop()`` is called (a processor started during a broker
        outage waits for the broker instead of ending up running without consuming).

        Raises:
            KafkaError: a non-retriable Kafka error (e.g. authorization) occurred; the current
                batch is then left uncommitted.
            RuntimeError: ``run()`` was called twice.
        """
        if self._started:
            raise RuntimeError("RecordConsumer.run() called twice")
        self._started = True
        try:
            self._consumer = await self._connect()
            if self._consumer is None:
                return  # stopped before connecting
            topics = [self.config.observations_topic, self.config.scores_topic]
            self._consumer.subscribe([t for t in topics if t], listener=_Listener(self))
            lag = asyncio.create_task(self._watch_lag())
            try:
                await self._consume()
                await self._flush("shutdown", split=False)
            finally:
                lag.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lag
        finally:
            try:
                if self._consumer is not None:
                    await self._consumer.stop()
            finally:
                await self._dlq.stop()
                self._done.set()

    async def _connect(self) -> Any:
        """Start the dead-letter producer and the consumer; ``None`` when stopped first.

        Raises:
            KafkaError: a non-retriable error (retriable ones, like an unreachable cluster, are
                retried with backoff).
        """
        c = self.config
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=c.bootstrap_servers,
                group_id=c.group_id,
                client_id=c.client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=c.session_timeout_ms,
                heartbeat_interval_ms=c.heartbeat_interval_ms,
                max_poll_interval_ms=c.max_poll_interval_ms,
                rebalance_timeout_ms=c.rebalance_timeout_ms,
            )
            try:
                await self._dlq.start()
                await consumer.start()
            except KafkaError as exc:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                if not exc.retriable:
                    raise
                log.warning("cannot reach Kafka at %s, retrying: %r", c.bootstrap_servers, exc)
                await self._backoff()
                continue
            self._attempt = 0
            return consumer
        return None

    async def stop(self) -> None:
        """Stop fetching, flush and commit the current batch, leave the group, close.

        Returns when ``run()`` has finished. Safe to call twice, and before ``run()`` (which
        then returns at once).
        """
        self._stopping.set()
        if self._started:
            await self._done.wait()

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.config.batch.timeout_s
        while not self._stopping.is_set():
            batch = self._batch
            wait = timeout
            if batch.messages:
                wait = batch.started + timeout - loop.time()
                if batch.records >= self.config.batch.max_records or wait <= 0:
                    trigger = (
                        "size" if batch.records >= self.config.batch.max_records else "timeout"
                    )
                    if not await self._flush(trigger, split=True):
                        await self._backoff()
                    continue
            try:
                fetched = await self._fetch(wait)
            except KafkaError as exc:
                if not exc.retriable:
                    raise
                log.warning("fetch failed, retrying: %r", exc)
                await self._backoff()
                continue
            if fetched:
                self._add(fetched, loop.time())

    async def _fetch(self, wait_s: float) -> Mapping[TopicPartition, list[Any]]:
        """``getmany`` for at most ``wait_s``; returns early (empty) when ``stop()`` is called."""
        # every message holds at least one record, except poison
        limit = max(1, self.config.batch.max_records - self._batch.records)
        return await fetch_until_stopped(
            self._consumer, self._stopping, timeout_ms=max(0, int(wait_s * 1000)), max_records=limit
        )

    def _add(self, fetched: Mapping[TopicPartition, list[Any]], now: float) -> None:
        started = time.perf_counter()
        count = 0
        for tp, raws in fetched.items():
            for raw in raws:
                self._batch.add(decode_message(raw, tp, self.config.scores_topic), now)
                count += 1
        CONSUMER_METRICS.consumed.inc(count)
        self.stats.decode_s += time.perf_counter() - started

    async def _flush(self, trigger: str, *, split: bool) -> bool:
        """Process, dead-letter and commit the pending messages; False if that failed retryably.

        With ``split`` (the consume loop) at most ``batch.max_records`` records are flushed and
        the rest stays pending; on failure every pending message is dropped and its partition
        sought back to the first of them, so the next fetches return them again. Without (revoke,
        shutdown) everything pending is flushed; after a failure the partitions are re-read from
        the committed offsets by whoever owns them next.
        """
        async with self._lock:
            if split:
                batch, self._batch = self._batch.split(
                    self.config.batch.max_records, asyncio.get_running_loop().time()
                )
            else:
                batch, self._batch = self._batch, MessageBatch()
            if not batch.messages:
                return True
            log.debug(
                "flushing %d messages, %d records (%s)", len(batch.messages), batch.records, trigger
            )
            started = time.perf_counter()
            try:
                failed = await self._process_messages(
                    [m for m in batch.messages if m.error is None and m.records]
                )
                letters = [m.letter(m.error) for m in batch.messages if m.error is not None]
                letters += [m.letter(exc) for m, exc in failed]
                await self._dlq.send(letters)
            except Exception as exc:  # retryable, including unknown exceptions (storage.errors)
                self.stats.process_s += time.perf_counter() - started
                self.stats.retries += 1
                CONSUMER_METRICS.retries.inc()
                log.warning(
                    "batch of %d messages (%d records) failed, %s: %r",
                    len(batch.messages),
                    batch.records,
                    "will retry" if split else "left uncommitted",
                    exc,
                )
                if split:
                    rest, self._batch = self._batch, MessageBatch()
                    self._rewind({**rest.first, **batch.first})
                return False
            self.stats.process_s += time.perf_counter() - started
            decode_errors = len(letters) - len(failed)
            CONSUMER_METRICS.dead_lettered.labels("decode").inc(decode_errors)
            CONSUMER_METRICS.dead_lettered.labels("process").inc(len(failed))
            await self._commit(batch)
            self._attempt = 0
            stats = self.stats
            stats.batches += 1
            stats.messages += len(batch.messages)
            stats.records += batch.records - sum(len(m.records) for m, _ in failed)
            stats.dead_lettered += len(letters)
            stats.triggers[trigger] = stats.triggers.get(trigger, 0) + 1
            return True

    async def _process_messages(
        self, messages: list[FetchedMessage]
    ) -> list[tuple[FetchedMessage, PermanentError]]:
        """Run the process step; on ``PermanentError`` bisect to isolate the failing messages.

        Returns the messages that failed permanently on their own, with their errors.
        Retryable errors propagate (some halves may already be written: a retry rewrites them,
        which the writer makes harmless).
        """
        if not messages:
            return []
        records = [r for m in messages for r in m.records]
        try:
            await asyncio.to_thread(self._process_records, records)
        except PermanentError as exc:
            if len(messages) == 1:
                return [(messages[0], exc)]
            half = len(messages) // 2
            return [
                *await self._process_messages(messages[:half]),
                *await self._process_messages(messages[half:]),
            ]
        return []

    def _process_records(self, records: Sequence[Record]) -> None:
        """Observations through ``process``, then scores through ``process_scores``."""
        observations = [r for r in records if isinstance(r, ObservationRecord)]
        scores = [r for r in records if isinstance(r, ScoreRecord)]
        if observations:
            self._process(observations)
        if scores and self._process_scores is not None:
            self._process_scores(scores)

    async def _commit(self, batch: MessageBatch) -> None:
        started = time.perf_counter()
        assigned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in batch.next.items() if tp in assigned}
        failure: BaseException | None = None
        try:
            if offsets:
                await self._consumer.commit(offsets)
        except KafkaError as exc:
            failure = exc
        if failure is None and len(offsets) < len(batch.next):
            failure = KafkaError(f"partitions {sorted(set(batch.next) - set(offsets))} revoked")
        if failure is None:
            CONSUMER_METRICS.commits.labels("success").inc()
        else:
            # The batch is written; its messages will be redelivered to the partition's owner,
            # and the storage layer makes that harmless. Nothing to retry here.
            self.stats.commit_failures += 1
            CONSUMER_METRICS.commits.labels("failure").inc()
            log.warning("offset commit failed after the write (will be redelivered): %r", failure)
        self.stats.commit_s += time.perf_counter() - started

    def _rewind(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Seek the still-assigned partitions back to ``offsets`` (a reassignment resets the
        others to their committed offsets anyway)."""
        assigned = self._consumer.assignment()
        for tp, offset in offsets.items():
            if tp in assigned:
                self._consumer.seek(tp, offset)

    async def _backoff(self) -> None:
        c = self.config
        delay = backoff_delay(self._attempt, c.backoff_initial_s, c.backoff_max_s)
        self._attempt += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _watch_lag(self) -> None:
        """Set the lag gauges every ``lag_interval_s`` until cancelled (module docstring, 7)."""
        c = self.config
        probe = GroupLag(
            c.bootstrap_servers,
            c.group_id,
            [c.observations_topic, c.scores_topic],
            f"{c.client_id}-lag",
        )
        try:
            while True:
                await self._update_own_lag()
                group_lag: int | None = None
                try:
                    if not probe.started:
                        await probe.start()
                    group_lag = await probe.measure(timeout_s=_MEASURE_TIMEOUT_S)
                except KafkaError as exc:
                    log.debug("group lag not measured: %r", exc)
                CONSUMER_METRICS.group_lag.set(float("nan") if group_lag is None else group_lag)
                await asyncio.sleep(c.lag_interval_s)
        finally:
            CONSUMER_METRICS.group_lag.set(float("nan"))
            CONSUMER_METRICS.lag.set(float("nan"))
            await probe.stop()

    async def _update_own_lag(self) -> None:
        """Σ (high watermark − position) over the held partitions; NaN while none are held.

        The high watermark is the one carried by fetch responses, which is right on Apache Kafka
        and on tansu alike (tansu's ``end_offsets()`` is not, docs/reference/test-services.md §1).
        """
        CONSUMER_METRICS.assigned_partitions.set(len(self._assignment))
        if not self._assignment:
            CONSUMER_METRICS.lag.set(float("nan"))
            return
        lag = 0
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue  # not fetched yet under this assignment
            with contextlib.suppress(KafkaError, TimeoutError):
                # position() waits while an offset reset is pending: never stall on it
                position = await asyncio.wait_for(self._consumer.position(tp), 0.1)
                lag += max(0, highwater - position)
        CONSUMER_METRICS.lag.set(lag)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked: %s", sorted(revoked))
        await self._flush("revoke", split=False)
        self._assignment = self._assignment - revoked

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned: %s", sorted(assigned))
        async with self._lock:  # never while a batch is being written
            self._assignment = frozenset(assigned)
            if self._on_assign is not None:
                try:
                    self._on_assign()
                except Exception:
                    log.exception("on_assign hook failed")
