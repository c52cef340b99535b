"""Throughput of ``ClickHouseWriter.write_observations`` on embedded chdb.

Run: ``.venv/bin/python -m bench.writer [--batches 20]`` (own temporary data
folder, so not inside pytest). Batches hold 2,000 realistic GENERATION records (~1 KB input and
~1 KB output, usage, cost, metadata), 10 observations per trace. Scenarios:

- ``new``: every batch starts 200 new traces (trace read misses, no observation lookup);
- ``continue``: every batch adds spans to the previous batch's traces (trace LRU hits, plus the
  one observation lookup per batch);
- ``continue-cold``: the same with the trace cache disabled (trace read per batch);
- ``redeliver``: the previous batches again (everything recognised and skipped).

``--path columns`` / ``--path rows`` hide the client's faster interfaces from the writer, to
measure its other insert paths on the same data: Arrow columns (``insert_columns``) or
JSON rows (``insert_rows``, what a ``ServerClient`` gets); default: the embedded Protobuf path.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.client import (
    ARROW_STREAM,
    JSON_COMPACT_EACH_ROW,
    NATIVE,
    Client,
    ProtobufInsert,
)
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.prepared import PreparedInsert
from storage.clickhouse.writer import ClickHouseWriter
from storage.errors import PermanentError
from storage.records import ObservationRecord
from tests.support.records import BASE_US, generation, new_id

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


class RowsOnly:
    """The client inserting through ``insert_rows`` only (what a ``ServerClient`` does)."""

    insert_formats = frozenset({NATIVE})
    merge_tree_settings: Mapping[str, int] = MappingProxyType({})

    def __init__(self, client: ChdbClient) -> None:
        self.client = client

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.client.command(sql, params)

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.client.select(sql, params)

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        self.client.insert_rows(table, columns, rows)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        self.client.insert_rows(table, columns, zip(*data, strict=True))

    def prepare_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> PreparedInsert:
        raise PermanentError("not used: no Protobuf path")

    def prepare_protobuf(self, insert: ProtobufInsert) -> PreparedInsert:
        raise PermanentError("not used: no Protobuf path")

    def busy(self) -> bool:
        return self.client.busy()

    def close(self) -> None:
        self.client.close()


class ColumnsOnly(RowsOnly):
    """The client without its Protobuf path (Arrow columns)."""

    insert_formats = frozenset({JSON_COMPACT_EACH_ROW, ARROW_STREAM})

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        self.client.insert_columns(table, columns, data)


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
    parser.add_argument("--path", choices=["auto", "columns", "rows"], default="auto")
    args = parser.parse_args()
    n = args.batches
    size = len(generation("p", "t").SerializeToString())
    print(
        f"record size {size} bytes (protobuf), batch {BATCH} records, {PER_TRACE} per trace,"
        f" insert path {args.path}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        chdb = ChdbClient(Path(tmp) / "data")
        apply_migrations(chdb)
        engine: Client = chdb
        if args.path == "columns":
            engine = ColumnsOnly(chdb)
        elif args.path == "rows":
            engine = RowsOnly(chdb)
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
