"""``RecordConsumer`` against a real Kafka-API broker (tansu, tests/support/kafka.py).

The process step is the consumer's boundary, so these tests give it a recording step (the
ClickHouse writer has its own tests; ``test_consumer_clickhouse.py`` runs the real one). Group
joins on tansu take about 3 s, so every consumer uses ``session_timeout_ms=6000`` and
``heartbeat_interval_ms=1000`` (docs/reference/test-services.md §1), and each test its own topic and
group.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY

from processors.batching import DEFAULT_BATCH_MAX_RECORDS, BatchConfig
from processors.kafka.backoff import backoff_delay
from processors.kafka.config import DEFAULT_OBSERVATIONS_TOPIC, ConsumerConfig
from processors.kafka.consumer import RecordConsumer
from processors.kafka.dead_letter import DeadLetter, DeadLetterQueue, dead_letter_headers
from storage.errors import PermanentError, RetryableError
from storage.records import (
    KAFKA_CONTENT_TYPE,
    ObservationRecord,
    ScoreRecord,
    decode_observation_batch,
    encode_observation_batch,
    encode_score_batch,
)
from tests.support.fakes import RecordingStep
from tests.support.kafka import Broker, start_broker

PARTITIONS = 4


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    kafka = start_broker(tmp_path_factory.mktemp("tansu"))
    yield kafka
    kafka.stop()


@dataclass(frozen=True)
class Topics:
    topic: str
    dlq: str
    group: str


@pytest.fixture
def topics(broker: Broker) -> Topics:
    """A fresh topic (4 partitions), dead-letter topic and group name for one test."""
    name = f"obs-{uuid.uuid4().hex[:8]}"
    broker.create_topics(name, f"{name}.dlq", partitions=PARTITIONS)
    return Topics(name, f"{name}.dlq", f"{name}-group")


def config(
    broker: Broker,
    topics: Topics,
    *,
    max_records: int = DEFAULT_BATCH_MAX_RECORDS,
    timeout_ms: int = 100,
    **overrides: object,
) -> ConsumerConfig:
    settings: dict[str, object] = {
        "bootstrap_servers": broker.bootstrap,
        "observations_topic": topics.topic,
        "scores_topic": "",
        "dead_letter_topic": topics.dlq,
        "group_id": topics.group,
        "session_timeout_ms": 6_000,
        "heartbeat_interval_ms": 1_000,
        "rebalance_timeout_ms": 6_000,
        "batch": BatchConfig(max_records=max_records, timeout_ms=timeout_ms),
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
    }
    settings.update(overrides)
    return ConsumerConfig(**settings)  # type: ignore[arg-type]


def records(tag: str, count: int) -> list[ObservationRecord]:
    """``count`` observation records of trace ``tag`` with ids ``{tag}-{n}``."""
    return [
        ObservationRecord(
            project_id="project-1",
            trace_id=tag,
            id=f"{tag}-{n}",
            type="SPAN",
            name="step",
            start_time_us=1_751_371_200_000_000 + n,
        )
        for n in range(count)
    ]


@dataclass(frozen=True)
class Sent:
    partition: int
    offset: int
    ids: list[str]


async def produce(
    bootstrap: str, topic: str, messages: Sequence[tuple[int, bytes, bytes]]
) -> list[Sent]:
    """Send ``(partition, key, value)`` messages; return where each landed and its record ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = []
        for partition, key, value in messages:
            meta = await producer.send_and_wait(
                topic,
                value,
                key=key,
                partition=partition,
                headers=[("content-type", KAFKA_CONTENT_TYPE.encode())],
            )
            try:
                ids = [r.id for r in decode_observation_batch(value)]
            except PermanentError:
                ids = []
            sent.append(Sent(meta.partition, meta.offset, ids))
        return sent
    finally:
        await producer.stop()


def batch_message(partition: int, tag: str, count: int) -> tuple[int, bytes, bytes]:
    return partition, tag.encode(), encode_observation_batch(records(tag, count))


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets of ``topic`` by partition (absent: none committed).

    Asks with a consumer of the group that does not subscribe (so it does not join the group):
    aiokafka's admin ``list_consumer_group_offsets`` fails to decode tansu's answer.
    """
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await reader.start()
    try:
        offsets = {p: await reader.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
    finally:
        await reader.stop()
    return {p: offset for p, offset in offsets.items() if offset is not None}


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def dead_letters(bootstrap: str, topic: str, expected: int) -> list[Any]:
    """Read ``expected`` messages from every partition of the dead-letter ``topic``."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    try:
        reader.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        found: list[Any] = []
        deadline = time.monotonic() + 10
        while len(found) < expected and time.monotonic() < deadline:
            for messages in (await reader.getmany(timeout_ms=200)).values():
                found.extend(messages)
        return found
    finally:
        await reader.stop()


# --- pure units -----------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    assert [backoff_delay(n, 0.5, 30, rand=lambda: 1.0) for n in range(8)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        30.0,
        30.0,
    ]
    assert backoff_delay(3, 0.5, 30, rand=lambda: 0.0) == 2.0  # never below half the ceiling
    assert backoff_delay(10_000, 0.5, 30) <= 30


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError) as error:
        ConsumerConfig(
            bootstrap_servers="k:9092",
            dead_letter_topic=DEFAULT_OBSERVATIONS_TOPIC,
            heartbeat_interval_ms=20_000,
            backoff_max_s=400,
        )
    message = str(error.value)
    for key in ("dead_letter_topic", "heartbeat_interval_ms", "max_poll_interval_ms"):
        assert key in message
    with pytest.raises(ValueError, match="max_records"):
        BatchConfig(max_records=0)
    with pytest.raises(ValueError, match="timeout_ms"):
        BatchConfig(timeout_ms=-1)


def test_dead_letter_headers_keep_the_original_and_add_the_error() -> None:
    letter = DeadLetter(
        "obs",
        2,
        41,
        b"trace",
        b"\xff",
        [("content-type", b"x"), ("otelfuse-error", b"stale")],
        PermanentError("é" * 5_000),
    )
    headers = dead_letter_headers(letter)
    names = [name for name, _ in headers]
    assert names == [
        "content-type",
        "otelfuse-error",
        "otelfuse-error-class",
        "otelfuse-source-topic",
        "otelfuse-source-partition",
        "otelfuse-source-offset",
    ]
    values = dict(headers)
    assert values["otelfuse-error"].decode() == "é" * 1_024  # cut at 2 KiB, on a character
    assert values["otelfuse-error-class"] == b"storage.errors.PermanentError"
    assert values["otelfuse-source-partition"] == b"2"
    assert values["otelfuse-source-offset"] == b"41"


def test_stop_before_run_makes_run_return_without_connecting() -> None:
    async def scenario() -> None:
        consumer = RecordConsumer(
            ConsumerConfig(bootstrap_servers="127.0.0.1:1", scores_topic=""), RecordingStep()
        )
        await consumer.stop()
        await consumer.stop()
        await asyncio.wait_for(consumer.run(), 2)

    asyncio.run(scenario())


# --- against tansu ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_restart_after_a_failure_resumes_at_the_committed_offsets(
    broker: Broker, topics: Topics
) -> None:
    """At least once: offsets are committed only for written batches; a restart reads the rest."""

    async def scenario() -> None:
        messages = [batch_message(m % PARTITIONS, f"t{m}", 5) for m in range(40)]
        sent = await produce(broker.bootstrap, topics.topic, messages)
        cfg = config(broker, topics, max_records=25)

        # the first processor writes 3 batches, then ClickHouse "goes down" for good
        first = RecordingStep(
            fail=lambda r, n: RetryableError("clickhouse down") if n > 3 else None
        )
        consumer = RecordConsumer(cfg, first)
        task = asyncio.create_task(consumer.run())
        await until(lambda: len(first.calls) >= 6)
        await consumer.stop()
        await task
        assert len(first.written) == 3
        assert [len(ids) for ids in first.written] == [25, 25, 25]  # cut at batch.max_records
        after_first = await committed(broker.bootstrap, topics.group, topics.topic)
        written = set(first.ids)
        for partition in range(PARTITIONS):
            # everything below the committed offset was written, nothing at or above it was
            below = [s for s in sent if s.partition == partition]
            upto = after_first.get(partition, 0)
            assert all(set(s.ids) <= written for s in below if s.offset < upto)
            assert not any(set(s.ids) & written for s in below if s.offset >= upto)
        assert sum(after_first.values()) < len(sent)

        second = RecordingStep()
        consumer = RecordConsumer(cfg, second)
        task = asyncio.create_task(consumer.run())

        async def all_committed() -> bool:
            offsets = await committed(broker.bootstrap, topics.group, topics.topic)
            return offsets == {p: len(messages) // PARTITIONS for p in range(PARTITIONS)}

        await until(all_committed, timeout=40)
        await consumer.stop()
        await task
        expected = [i for s in sent for i in s.ids]
        assert sorted(first.ids + second.ids) == sorted(expected)  # each exactly once here
        resumed = {i for s in sent if s.offset >= after_first.get(s.partition, 0) for i in s.ids}
        assert set(second.ids) == resumed

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_retryable_failure_backs_off_without_committing_then_succeeds(
    broker: Broker, topics: Topics
) -> None:
    async def scenario() -> None:
        sent = await produce(
            broker.bootstrap, topics.topic, [batch_message(0, f"r{m}", 3) for m in range(3)]
        )
        healthy = threading.Event()
        step = RecordingStep(
            fail=lambda r, n: None if healthy.is_set() else RetryableError("clickhouse down")
        )
        retries_before = metric("otelfuse_processor_retries_total")
        consumer = RecordConsumer(
            config(
                broker,
                topics,
                backoff_initial_s=0.2,
                backoff_max_s=0.8,
                timeout_ms=50,
            ),
            step,
        )
        task = asyncio.create_task(consumer.run())
        await until(lambda: len(step.calls) >= 4)
        assert await committed(broker.bootstrap, topics.group, topics.topic) == {}
        healthy.set()
        await until(lambda: bool(step.written))
        await until(
            lambda: consumer.stats.batches == 1
        )  # the success was committed (stats follow the commit)
        assert await committed(broker.bootstrap, topics.group, topics.topic) == {0: 3}
        await consumer.stop()
        await task

        expected = [i for s in sent for i in s.ids]
        # every attempt carried the same batch, and it was written once
        failed = [ids for _, ids in step.calls[: -len(step.written)]]
        assert all(ids == expected for ids in failed)
        assert step.written == [expected]
        # waits grow: ≥ half of 0.2, 0.4, 0.8 s (equal jitter), capped at 0.8 s
        starts = [at for at, _ in step.calls]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4
        assert consumer.stats.retries == len(failed)
        assert metric("otelfuse_processor_retries_total") - retries_before == len(failed)

    asyncio.run(scenario())


@pytest.mark.slow
def test_poison_goes_to_the_dead_letter_topic_and_the_rest_flows_on(
    broker: Broker, topics: Topics
) -> None:
    """Undecodable values and records the step refuses for good are parked, then committed."""

    async def scenario() -> None:
        messages = [
            batch_message(0, "good-a", 2),
            (0, b"poison", b"\xff\xff\xff not an ObservationBatch"),
            batch_message(0, "good-b", 2),
            batch_message(1, "fine-1", 2),
            batch_message(1, "refused", 2),
            batch_message(1, "fine-2", 2),
            batch_message(1, "fine-3", 2),
        ]
        sent = await produce(broker.bootstrap, topics.topic, messages)
        step = RecordingStep(
            fail=lambda batch, n: (
                PermanentError("ClickHouse refused row refused-1")
                if any(r.id == "refused-1" for r in batch)
                else None
            )
        )
        decode_before = metric("otelfuse_processor_dead_lettered_records_total", reason="decode")
        process_before = metric("otelfuse_processor_dead_lettered_records_total", reason="process")
        consumer = RecordConsumer(config(broker, topics, timeout_ms=300), step)
        task = asyncio.create_task(consumer.run())

        async def done() -> bool:
            return await committed(broker.bootstrap, topics.group, topics.topic) == {0: 3, 1: 4}

        await until(done)
        await consumer.stop()
        await task

        expected = {i for s in sent for i in s.ids if not i.startswith("refused")}
        assert sorted(step.ids) == sorted(expected)
        parked = await dead_letters(broker.bootstrap, topics.dlq, 2)
        by_key = {m.key: m for m in parked}
        assert set(by_key) == {b"poison", b"refused"}
        poison = by_key[b"poison"]
        assert poison.value == messages[1][2]
        headers = dict(poison.headers)
        assert headers["content-type"] == KAFKA_CONTENT_TYPE.encode()
        assert b"undecodable ObservationBatch" in headers["otelfuse-error"]
        assert headers["otelfuse-error-class"] == b"storage.errors.PermanentError"
        assert headers["otelfuse-source-topic"] == topics.topic.encode()
        assert (headers["otelfuse-source-partition"], headers["otelfuse-source-offset"]) == (
            b"0",
            b"1",
        )
        refused = dict(by_key[b"refused"].headers)
        assert refused["otelfuse-error"] == b"ClickHouse refused row refused-1"
        assert refused["otelfuse-source-offset"] == b"1"
        assert by_key[b"refused"].value == messages[4][2]
        assert consumer.stats.dead_lettered == 2
        assert (
            metric("otelfuse_processor_dead_lettered_records_total", reason="decode")
            - decode_before
            == 1
        )
        assert (
            metric("otelfuse_processor_dead_lettered_records_total", reason="process")
            - process_before
            == 1
        )

    asyncio.run(scenario())


def test_scores_topic_is_consumed_in_the_same_group_with_its_own_step(
    broker: Broker, topics: Topics
) -> None:
    """Both topics in one group: observations reach ``process``, scores ``process_scores``;
    a failing score write is retried without commit; a non-ScoreBatch is dead-lettered."""

    scores_topic = f"{topics.topic}.scores"
    broker.create_topics(scores_topic, partitions=PARTITIONS)

    async def scenario() -> None:
        score_values = [
            encode_score_batch(
                [
                    ScoreRecord(project_id="project-1", id=f"s{n}-{i}", trace_id=f"t{n}", name="q")
                    for i in range(2)
                ]
            )
            for n in range(3)
        ]
        await produce(broker.bootstrap, topics.topic, [batch_message(0, "obs", 3)])
        await produce(
            broker.bootstrap,
            scores_topic,
            [
                (0, b"t0", score_values[0]),
                (1, b"poison", b"\xff\xff not a ScoreBatch"),
                (1, b"t1", score_values[1]),
                (2, b"t2", score_values[2]),
            ],
        )
        observations = RecordingStep()
        scores = RecordingStep(
            fail=lambda batch, n: RetryableError("ClickHouse busy") if n == 1 else None
        )
        consumer = RecordConsumer(
            config(broker, topics, scores_topic=scores_topic, timeout_ms=300),
            observations,
            process_scores=scores,  # type: ignore[arg-type]
        )
        task = asyncio.create_task(consumer.run())

        async def done() -> bool:
            offsets = await committed(broker.bootstrap, topics.group, scores_topic)
            return offsets == {0: 1, 1: 2, 2: 1}

        await until(done)
        await consumer.stop()
        await task

        # the retried batch rewrites its observations (rows keyed by id make that harmless)
        assert set(observations.ids) == {"obs-0", "obs-1", "obs-2"}
        assert sorted(scores.ids) == sorted(f"s{n}-{i}" for n in range(3) for i in range(2))
        assert consumer.stats.retries >= 1
        assert await committed(broker.bootstrap, topics.group, topics.topic) == {0: 1}
        parked = await dead_letters(broker.bootstrap, topics.dlq, 1)
        assert [m.key for m in parked] == [b"poison"]
        headers = dict(parked[0].headers)
        assert b"undecodable ScoreBatch" in headers["otelfuse-error"]
        assert headers["otelfuse-source-topic"] == scores_topic.encode()

    asyncio.run(scenario())


def test_scores_topic_needs_a_score_step(broker: Broker, topics: Topics) -> None:
    with pytest.raises(ValueError, match="process_scores is required"):
        RecordConsumer(
            config(broker, topics, scores_topic=f"{topics.topic}.scores"), RecordingStep()
        )
    with pytest.raises(ValueError, match="scores_topic"):
        config(broker, topics, scores_topic=topics.dlq)


class FlakyDeadLetterQueue(DeadLetterQueue):
    """The real dead-letter producer, whose first ``failures`` sends fail like a broker outage."""

    def __init__(self, bootstrap: str, topic: str, failures: int) -> None:
        super().__init__(bootstrap, topic)
        self.failures = failures
        self.attempts = 0

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise RetryableError("dead-letter topic unavailable")
        await super().send(letters)


@pytest.mark.slow
def test_a_failed_dead_letter_write_is_retried_before_the_commit(
    broker: Broker, topics: Topics
) -> None:
    async def scenario() -> None:
        messages = [
            batch_message(2, "ok-1", 2),
            (2, b"poison", b"\xff"),
            batch_message(2, "ok-2", 2),
        ]
        await produce(broker.bootstrap, topics.topic, messages)
        step = RecordingStep()
        dlq = FlakyDeadLetterQueue(broker.bootstrap, topics.dlq, failures=2)
        consumer = RecordConsumer(
            config(broker, topics, timeout_ms=300), step, dead_letter_queue=dlq
        )
        task = asyncio.create_task(consumer.run())

        async def done() -> bool:
            return await committed(broker.bootstrap, topics.group, topics.topic) == {2: 3}

        await until(lambda: dlq.attempts >= 2)
        assert await committed(broker.bootstrap, topics.group, topics.topic) == {}
        await until(done)
        await consumer.stop()
        await task
        assert dlq.attempts == 3 and consumer.stats.retries == 2
        # the good records of the batch were written on every attempt (the writer dedupes)
        assert step.written[-1] == ["ok-1-0", "ok-1-1", "ok-2-0", "ok-2-1"]
        parked = await dead_letters(broker.bootstrap, topics.dlq, 1)
        assert [m.value for m in parked] == [b"\xff"]

    asyncio.run(scenario())


@pytest.mark.slow
def test_stop_flushes_and_commits_the_batch_in_progress(broker: Broker, topics: Topics) -> None:
    async def scenario() -> None:
        sent = await produce(
            broker.bootstrap,
            topics.topic,
            [batch_message(m % PARTITIONS, f"s{m}", 4) for m in range(8)],
        )
        step = RecordingStep()
        consumer = RecordConsumer(
            config(broker, topics, timeout_ms=60_000, max_records=100_000), step
        )
        task = asyncio.create_task(consumer.run())
        await until(lambda: consumer.pending_records == 32)
        assert step.calls == []
        await asyncio.gather(consumer.stop(), consumer.stop())
        assert task.done()
        await task
        assert step.written == [step.written[0]] and sorted(step.ids) == sorted(
            i for s in sent for i in s.ids
        )
        assert consumer.stats.triggers == {"shutdown": 1}
        assert await committed(broker.bootstrap, topics.group, topics.topic) == {
            p: 2 for p in range(PARTITIONS)
        }
        await consumer.stop()  # a third call after run() returned

    asyncio.run(scenario())


@pytest.mark.slow
def test_two_consumers_split_the_partitions_and_a_rebalance_flushes_first(
    broker: Broker, topics: Topics
) -> None:
    """Revocation writes and commits the batch in progress, so the new owner does not redo it."""

    async def scenario() -> None:
        cfg = config(broker, topics, timeout_ms=60_000, max_records=100_000)
        first_batch = await produce(
            broker.bootstrap,
            topics.topic,
            [batch_message(m % PARTITIONS, f"a{m}", 2) for m in range(8)],
        )
        assigned = {"a": 0, "b": 0}

        def hook(name: str) -> Callable[[], None]:
            def on_assign() -> None:
                assigned[name] += 1

            return on_assign

        step_a, step_b = RecordingStep(), RecordingStep()
        a = RecordConsumer(cfg, step_a, on_assign=hook("a"))
        task_a = asyncio.create_task(a.run())
        await until(lambda: a.pending_records == 16)
        assert len(a.assignment) == PARTITIONS

        b = RecordConsumer(cfg, step_b, on_assign=hook("b"))
        task_b = asyncio.create_task(b.run())
        await until(lambda: len(a.assignment) == 2 and len(b.assignment) == 2, timeout=40)
        assert a.assignment.isdisjoint(b.assignment)
        assert len(a.assignment | b.assignment) == PARTITIONS
        # A wrote and committed its batch when the partitions were revoked
        assert a.stats.triggers == {"revoke": 1}
        assert sorted(step_a.ids) == sorted(i for s in first_batch for i in s.ids)
        assert await committed(broker.bootstrap, topics.group, topics.topic) == {
            p: 2 for p in range(PARTITIONS)
        }
        assert assigned == {"a": 2, "b": 1}

        second_batch = await produce(
            broker.bootstrap,
            topics.topic,
            [batch_message(m % PARTITIONS, f"b{m}", 2) for m in range(8)],
        )
        await until(lambda: a.pending_records + b.pending_records == 16)
        owned_a = {tp.partition for tp in a.assignment}
        await asyncio.gather(a.stop(), b.stop())
        await asyncio.gather(task_a, task_b)

        later_a = set(step_a.ids) - {i for s in first_batch for i in s.ids}
        assert later_a == {i for s in second_batch if s.partition in owned_a for i in s.ids}
        assert set(step_b.ids) == {
            i for s in second_batch if s.partition not in owned_a for i in s.ids
        }
        assert await committed(broker.bootstrap, topics.group, topics.topic) == {
            p: 4 for p in range(PARTITIONS)
        }

    asyncio.run(scenario())


@pytest.mark.slow
def test_lag_is_measured_from_the_group_while_the_processor_holds_no_partitions(
    broker: Broker, topics: Topics
) -> None:
    """Issue 15 item 6: a processor that has not been assigned partitions yet (a group join takes
    seconds) must not report a lag of 0 while records wait. The group's lag (high watermark of
    each partition minus the group's committed offset) is measured without joining the group;
    the pod's own lag is unknown (NaN) until it holds partitions."""

    async def scenario() -> None:
        await produce(
            broker.bootstrap,
            topics.topic,
            [batch_message(m % PARTITIONS, f"w{m}", 1) for m in range(10)],
        )
        # The group has already consumed two messages of partition 0.
        committer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap, group_id=topics.group, enable_auto_commit=False
        )
        await committer.start()
        try:
            committer.assign([TopicPartition(topics.topic, 0)])
            await committer.commit({TopicPartition(topics.topic, 0): 2})
        finally:
            await committer.stop()

        step = RecordingStep()
        blocked = asyncio.Event()
        consumer = RecordConsumer(
            config(broker, topics, lag_interval_s=0.1),
            step,
        )
        # Hold the group join: the rebalance cannot finish until ``blocked`` is set.
        original = consumer._on_assigned

        async def slow_assign(assigned: set[TopicPartition]) -> None:
            await blocked.wait()
            await original(assigned)

        consumer._on_assigned = slow_assign  # type: ignore[method-assign]
        task = asyncio.create_task(consumer.run())
        try:
            await until(lambda: metric("otelfuse_processor_group_lag_records") == 8)
            assert consumer.assignment == frozenset()
            assert metric("otelfuse_processor_assigned_partitions") == 0
            own = REGISTRY.get_sample_value("otelfuse_processor_consumer_lag_records")
            assert own is not None and math.isnan(own)
            blocked.set()
            await until(lambda: metric("otelfuse_processor_assigned_partitions") == PARTITIONS)
            await until(lambda: len(step.ids) == 8)
            await until(lambda: metric("otelfuse_processor_group_lag_records") == 0)
            await until(lambda: metric("otelfuse_processor_consumer_lag_records") == 0)
        finally:
            blocked.set()
            await consumer.stop()
            await task

    asyncio.run(scenario())
