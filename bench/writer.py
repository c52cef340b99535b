"""Throughput of ``ClickHouseWriter.write_observations`` on embedded chdb.

Run: ``.venv/bin/python -m bench.writer [--batches 20]`` (own temporary data
folder, so not inside pytest). Batches hold 2,000 realistic GENERATION records (~1 KB input and
~1 KB output, usage, cost, metadata), 10 observations per trace. Scenarios:

- ``new``: every batch starts 200 new traces (trace read misses, no observation lookup);
- ``continue``: every batch adds spans to the previous batch's traces (trace LRU hits, plus the
  one observation lookup per batch);
- ``continue-cold``: the same with the trace cache disabled (trace read per batch);
- ``redeliver``: the previous batches again (everything recognised and skipped).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from storage.clickhouse.engine import ChdbEngine
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.writer import ClickHouseWriter
from storage.records import ObservationRecord
from tests.storage.records import BASE_US, generation, new_id

BATCH = 2_000
PER_TRACE = 10


def make_batch(trace_ids: list[str], start_us: int) -> list[ObservationRecord]:
    records = []
    for n in range(BATCH):
        tid = trace_ids[n % len(trace_ids)]
        rec = generation(
            "bench-project",
            tid,
            start_us=start_us + n * 1_000,
            end_us=start_us + n * 1_000 + 800_000,
            trace={"user_id": f"user-{n % 97}", "session_id": f"s-{n % 31}", "tags": ["bench"]},
        )
        records.append(rec)
    return records


def run(name: str, writer: ClickHouseWriter, batches: list[list[ObservationRecord]]) -> None:
    times = []
    for batch in batches:
        t0 = time.perf_counter()
        writer.write_observations(batch)
        times.append(time.perf_counter() - t0)
    total = sum(times)
    rows = len(batches) * BATCH
    print(
        f"{name:14s} {rows:7d} rows  {rows / total:9.0f} rows/s  "
        f"batch median {statistics.median(times) * 1000:6.1f} ms  max {max(times) * 1000:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    n = args.batches
    size = len(generation("p", "t").SerializeToString())
    print(f"record size {size} bytes (protobuf), batch {BATCH} records, {PER_TRACE} per trace")
    with tempfile.TemporaryDirectory() as tmp:
        engine = ChdbEngine(Path(tmp) / "data")
        apply_migrations(engine)
        writer = ClickHouseWriter(engine)
        traces_per_batch = BATCH // PER_TRACE

        def build(trace_sets: list[list[str]], offset: int) -> list[list[ObservationRecord]]:
            return [make_batch(t, BASE_US + (offset + i) * 10**9) for i, t in enumerate(trace_sets)]

        new_sets = [[new_id(32) for _ in range(traces_per_batch)] for _ in range(n)]
        continued = build(new_sets, n)
        run("new", writer, build(new_sets, 0))
        run("continue", writer, continued)
        run("continue-cold", ClickHouseWriter(engine, trace_cache_size=0), build(new_sets, 2 * n))
        run("redeliver", writer, continued)
        engine.close()


if __name__ == "__main__":
    main()
