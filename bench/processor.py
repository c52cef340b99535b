"""Processor throughput: a pre-filled observations topic → ``RecordConsumer`` → chdb.

Starts tansu (tests/support/kafka.py) in a temporary folder, fills a topic with ``--records``
realistic observation records (``bench.spans.RequestFactory`` exports mapped by
``ingest.mapping.map_export_request``: per trace one agent span and two chat generations with usage
and ~1 KB input/output), packed into ``ObservationBatch`` messages of whole traces, about
``--records-per-message`` records each, keyed by the first trace's id (each trace lives in exactly
one message, so all its spans share a partition), lz4-compressed like the receiver's producer. Then
one consumer with the production step, ``EnrichAndWrite(default_enricher(…),
ClickHouseWriter(ChdbClient(tmp)))`` with the embedded writer's ``TraceKeyFilter``
(``--trace-filter off``: without, reading every trace missing the LRU), drains the topic. Prints
rows/s into embedded ClickHouse, measured from the group assignment to the last commit, where the
time went, and the parts ClickHouse created meanwhile (``clickhouse_parts``: parts written by
inserts and by background merges, and per minute, from the engine's ``system.events`` counters,
since chdb has no ``system.part_log``; merge time is CPU of the same process). ``--step noop``
replaces the process step by a no-op to measure the consumer alone.

    .venv/bin/python -m bench.processor --records 200000

Profile with ``py-spy record -o profile.svg -- .venv/bin/python -m bench.processor``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from aiokafka import AIOKafkaProducer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.receiver import cpu_s
from bench.spans import SPANS_PER_TRACE, RequestFactory
from ingest.mapping.context import IngestContext
from ingest.mapping.request import map_export_request
from processors.batch import EnrichAndWrite
from processors.batching import DEFAULT_BATCH_MAX_RECORDS, BatchConfig
from processors.enrich import default_enricher
from processors.kafka.config import (
    DEFAULT_DEAD_LETTER_TOPIC,
    DEFAULT_OBSERVATIONS_TOPIC,
    ConsumerConfig,
)
from processors.kafka.consumer import RecordConsumer
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.trace_filter import TraceKeyFilter
from storage.clickhouse.writer import ClickHouseWriter
from storage.records import KAFKA_CONTENT_TYPE, ObservationRecord, encode_observation_batch
from tests.support.kafka import Broker, start_broker

TOPIC = DEFAULT_OBSERVATIONS_TOPIC
DEAD_LETTER_TOPIC = DEFAULT_DEAD_LETTER_TOPIC
TRACES_PER_REQUEST = 100
MAX_RETRIES = 5
"""The run is aborted after this many failed batches (the report would be meaningless)."""


class TimedWriter:
    """``ObservationWriter`` that times the wrapped writer (to split enrich from write)."""

    def __init__(self, writer: ClickHouseWriter) -> None:
        self.writer = writer
        self.seconds = 0.0

    def write_observations(self, records: Sequence[ObservationRecord]) -> None:
        started = time.perf_counter()
        try:
            self.writer.write_observations(records)
        finally:
            self.seconds += time.perf_counter() - started


PART_EVENTS = {
    "MergeTreeDataWriterBlocks": "inserted_parts",
    "Merge": "merges",
    "MergedRows": "merged_rows",
    "MergeTotalMilliseconds": "merge_ms",
}
"""``system.events`` counters (ClickHouse docs, "system.events") behind ``clickhouse_parts``:
parts written by inserts (one per insert and partition), background merges launched (each
writes one part), rows they read and their total time."""


def part_counters(engine: ChdbClient) -> dict[str, int]:
    """The ``PART_EVENTS`` counters of the engine (process-wide, since start), by report name."""
    names = ", ".join(f"'{event}'" for event in PART_EVENTS)
    rows = engine.select(f"SELECT event, value FROM system.events WHERE event IN ({names})")
    found = {row["event"]: int(row["value"]) for row in rows}
    return {label: found.get(event, 0) for event, label in PART_EVENTS.items()}


def part_report(
    before: dict[str, int], after: dict[str, int], seconds: float, active: int
) -> dict[str, float]:
    """Parts created between two ``part_counters`` snapshots, and per minute of ``seconds``."""
    delta = {label: after[label] - before[label] for label in after}
    created = delta["inserted_parts"] + delta["merges"]
    return {
        **delta,
        "parts_created": created,
        "parts_per_minute": round(created * 60 / seconds, 1),
        "active_parts_at_end": active,
    }


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def prefill(broker: Broker, records: int, per_message: int) -> dict[str, float]:
    """Produce about ``records`` records; return counts and timings."""
    factory = RequestFactory(TRACES_PER_REQUEST)
    ctx = IngestContext(project_id="bench-project", sdk_name="python", sdk_version="bench")
    traces_per_message = max(1, per_message // SPANS_PER_TRACE)
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap,
        acks="all",
        compression_type="lz4",
        linger_ms=5,
        max_batch_size=1_000_000,
        max_request_size=1_000_000,
    )
    headers = [("content-type", KAFKA_CONTENT_TYPE.encode())]
    produced = messages = value_bytes = 0
    map_s = 0.0
    started = time.perf_counter()
    await producer.start()
    try:
        while produced < records:
            body, _ = factory.build()
            t0 = time.perf_counter()
            mapped = map_export_request(ExportTraceServiceRequest.FromString(body), ctx)
            map_s += time.perf_counter() - t0
            chunk = mapped.records[: records - produced]
            deliveries = []
            step = traces_per_message * SPANS_PER_TRACE
            for start in range(0, len(chunk), step):
                group = chunk[start : start + step]
                value = encode_observation_batch(group)
                deliveries.append(
                    await producer.send(
                        TOPIC, value, key=group[0].trace_id.encode(), headers=headers
                    )
                )
                messages += 1
                value_bytes += len(value)
            await asyncio.gather(*deliveries)
            produced += len(chunk)
    finally:
        await producer.stop()
    return {
        "records": produced,
        "messages": messages,
        "value_bytes": value_bytes,
        "seconds": time.perf_counter() - started,
        "mapping_s": map_s,
    }


def _noop(records: Sequence[ObservationRecord]) -> None:
    """Process step of ``--step noop``: measures the consumer alone (fetch, decode, commit)."""


async def consume(
    broker: Broker,
    data: Path,
    records: int,
    batch: int,
    cache_size: int,
    noop: bool,
    trace_filter: bool = True,
) -> dict[str, object]:
    engine = ChdbClient(data / "chdb")
    apply_migrations(engine)
    known = TraceKeyFilter(engine) if trace_filter else None  # as the all-in-one's (embedded)
    if known is not None:
        known.start()
    writer = ClickHouseWriter(engine, trace_cache_size=cache_size, known_traces=known)
    timed = TimedWriter(writer)
    step: Callable[[Sequence[ObservationRecord]], None] = (
        _noop if noop else EnrichAndWrite(default_enricher(data), timed)
    )
    assigned_at: list[float] = []

    def on_assign() -> None:
        writer.clear_cache()
        assigned_at.append(time.perf_counter())

    consumer = RecordConsumer(
        ConsumerConfig(
            bootstrap_servers=broker.bootstrap,
            observations_topic=TOPIC,
            scores_topic="",
            dead_letter_topic=DEAD_LETTER_TOPIC,
            group_id="bench-processor",
            batch=BatchConfig(max_records=batch),
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
        ),
        step,
        on_assign=on_assign,
    )
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    while not assigned_at and not task.done():
        await asyncio.sleep(0.01)
    cpu_start, broker_cpu_start = _own_cpu_s(), cpu_s(_broker_pid(broker))
    parts_start = await asyncio.to_thread(part_counters, engine)
    while consumer.stats.records < records and not task.done():
        if consumer.stats.retries >= MAX_RETRIES:
            await consumer.stop()
            raise SystemExit(f"aborted: {consumer.stats.retries} batches failed (see the log)")
        await asyncio.sleep(0.01)
    finished = time.perf_counter()
    cpu = _own_cpu_s() - cpu_start
    broker_cpu = cpu_s(_broker_pid(broker)) - broker_cpu_start
    parts_end = await asyncio.to_thread(part_counters, engine)
    await consumer.stop()
    await task
    active = engine.select(
        "SELECT count() AS n FROM system.parts WHERE database = 'otelfuse' AND active"
        " AND table IN ('observations', 'traces')"
    )
    if known is not None:
        known.close()
    engine.close()
    stats = consumer.stats
    wall = finished - assigned_at[0]
    process_s = stats.process_s
    return {
        "join_s": round(assigned_at[0] - started, 2),
        "seconds": round(wall, 2),
        "rows_per_second": round(stats.records / wall),
        "batches": stats.batches,
        "mean_batch_records": round(stats.records / max(1, stats.batches)),
        "triggers": stats.triggers,
        "retries": stats.retries,
        "time_split_s": {
            "enrich": round(process_s - timed.seconds, 2),
            "clickhouse_write": round(timed.seconds, 2),
            "decode": round(stats.decode_s, 2),
            "commit": round(stats.commit_s, 2),
            "fetch_and_other": round(wall - process_s - stats.decode_s - stats.commit_s, 2),
        },
        "cpu_s": {"processor": round(cpu, 2), "tansu": round(broker_cpu, 2)},
        "clickhouse_parts": part_report(parts_start, parts_end, wall, int(active[0]["n"])),
    }


def _broker_pid(broker: Broker) -> int:
    assert broker.process is not None
    return broker.process.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--records-per-message", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH_MAX_RECORDS, help="batch.max_records"
    )
    parser.add_argument("--trace-cache", type=int, default=100_000, help="writer LRU size")
    parser.add_argument(
        "--trace-filter",
        choices=["on", "off"],
        default="on",
        help="on: the writer skips the read of traces never written (TraceKeyFilter), as the "
        "all-in-one does; off: it reads every LRU miss, as with a ClickHouse server",
    )
    parser.add_argument(
        "--step",
        choices=["write", "noop"],
        default="write",
        help="write: EnrichAndWrite into chdb; noop: the consumer alone",
    )
    parser.add_argument("--json", type=Path, help="also write the report to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="otelfuse-bench-") as tmp:
        data = Path(tmp)
        broker = start_broker(data / "tansu")
        try:
            broker.create_topics(TOPIC, DEAD_LETTER_TOPIC, partitions=args.partitions)
            filled = asyncio.run(prefill(broker, args.records, args.records_per_message))
            print(
                f"prefill: {filled['records']:.0f} records in {filled['messages']:.0f} messages "
                f"({filled['value_bytes'] / filled['records']:.0f} B/record) in "
                f"{filled['seconds']:.1f} s (mapping {filled['mapping_s']:.1f} s)",
                flush=True,
            )
            result = asyncio.run(
                consume(
                    broker,
                    data,
                    int(filled["records"]),
                    args.batch,
                    args.trace_cache,
                    args.step == "noop",
                    args.trace_filter == "on",
                )
            )
        finally:
            broker.stop()
    report = {
        "benchmark": "processor",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {k: str(v) for k, v in vars(args).items()},
        "prefill": {k: round(v, 2) for k, v in filled.items()},
        "consume": result,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
