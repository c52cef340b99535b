"""The consumer with the production process step: tansu → enrich → embedded ClickHouse.

chdb allows one data path per process and the storage tests already hold one (their session
fixture), so the consumer runs in a subprocess,
``python -m tests.processors.kafka.test_consumer_clickhouse`` (``main`` below): it consumes the
topic into its own chdb folder, then prints what the query layer returns as JSON.

The step acknowledges its first batch's write as failed after the rows were inserted (a lost
acknowledgement): the consumer retries that batch, and the redelivered rows must not be
duplicated in what queries return (docs/architecture.md "Guarantees and how they are met").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from storage.errors import RetryableError
from storage.records import ObservationRecord, encode_observation_batch
from tests.support.kafka import start_broker
from tests.support.records import generation, new_id

pytestmark = pytest.mark.service  # starts external processes (make test-fast skips it)

PROJECT = "project-consumer"
MESSAGES = 24
RECORDS_PER_MESSAGE = 5


def main() -> None:
    """Subprocess entry point: consume ``--messages`` messages into ClickHouse, print counts."""
    from processors.batch import EnrichAndWrite
    from processors.batching import BatchConfig
    from processors.enrich import default_enricher
    from processors.kafka.config import ConsumerConfig
    from processors.kafka.consumer import RecordConsumer
    from storage.clickhouse.chdb import ChdbClient
    from storage.clickhouse.migrate import apply_migrations
    from storage.clickhouse.writer import ClickHouseWriter
    from storage.query.observations import ObservationFilter, list_observations
    from storage.query.params import PageRequest
    from storage.query.repository import Repository

    parser = argparse.ArgumentParser()
    for name in ("--bootstrap", "--topic", "--group", "--data"):
        parser.add_argument(name, required=True)
    parser.add_argument("--messages", type=int, required=True)
    args = parser.parse_args()

    data = Path(args.data)
    engine = ChdbClient(data / "chdb")
    apply_migrations(engine)
    writer = ClickHouseWriter(engine)
    write = EnrichAndWrite(default_enricher(data), writer)
    lost_acks = [1]

    def step(records: Sequence[ObservationRecord]) -> None:
        write(records)
        if lost_acks:
            lost_acks.pop()
            raise RetryableError("ClickHouse timed out after the insert")

    config = ConsumerConfig(
        bootstrap_servers=args.bootstrap,
        observations_topic=args.topic,
        scores_topic="",
        dead_letter_topic=f"{args.topic}.dlq",
        group_id=args.group,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
        rebalance_timeout_ms=6_000,
        batch=BatchConfig(max_records=40),
        backoff_initial_s=0.05,
    )
    consumer = RecordConsumer(config, step, on_assign=writer.clear_cache)

    async def consume() -> None:
        task = asyncio.create_task(consumer.run())
        for _ in range(600):
            if consumer.stats.messages >= args.messages or task.done():
                break
            await asyncio.sleep(0.05)
        await consumer.stop()
        await task

    asyncio.run(consume())
    repository = Repository(engine)
    rows: list[dict[str, object]] = []
    for number in (1, 2):
        page = list_observations(
            repository, PROJECT, ObservationFilter(), PageRequest(page=number, limit=100)
        )
        rows += page.rows
    print(
        json.dumps(
            {
                "total": page.total,
                "ids": sorted(str(row["id"]) for row in rows),
                "costs": sorted({str(row["total_cost"]) for row in rows}),
                "retries": consumer.stats.retries,
                "messages": consumer.stats.messages,
                "commit_failures": consumer.stats.commit_failures,
            }
        )
    )
    engine.close()


async def _produce(bootstrap: str, topic: str) -> list[str]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    ids: list[str] = []
    try:
        for _ in range(MESSAGES):
            trace_id = new_id(32)
            batch = [
                generation(
                    PROJECT,
                    trace_id,
                    provided_model_name="gpt-4o",
                    provided_usage_details={"input": 1000, "output": 200},
                )
                for _ in range(RECORDS_PER_MESSAGE)
            ]
            ids += [r.id for r in batch]
            await producer.send_and_wait(
                topic, encode_observation_batch(batch), key=trace_id.encode()
            )
    finally:
        await producer.stop()
    return ids


@pytest.mark.slow
def test_redelivered_batches_are_not_duplicated_in_clickhouse(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "tansu")
    try:
        topic = f"obs-{uuid.uuid4().hex[:8]}"
        broker.create_topics(topic, f"{topic}.dlq", partitions=4)
        ids = asyncio.run(_produce(broker.bootstrap, topic))
        with tempfile.TemporaryDirectory() as data:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.processors.kafka.test_consumer_clickhouse",
                    "--bootstrap",
                    broker.bootstrap,
                    "--topic",
                    topic,
                    "--group",
                    f"{topic}-group",
                    "--data",
                    data,
                    "--messages",
                    str(MESSAGES),
                ],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=Path(__file__).resolve().parents[3],
            )
        assert done.returncode == 0, done.stderr[-4000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        broker.stop()
    assert result["retries"] == 1
    assert result["messages"] == MESSAGES
    assert MESSAGES * RECORDS_PER_MESSAGE > 100  # two pages
    assert result["total"] == MESSAGES * RECORDS_PER_MESSAGE  # no duplicate despite the retry
    assert result["ids"] == sorted(ids)
    # gpt-4o, 1000 input + 200 output tokens: $0.0025 + $0.002 (enriched before the write)
    assert result["costs"] == ["0.0045"]


if __name__ == "__main__":
    main()
