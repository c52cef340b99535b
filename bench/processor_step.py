"""CPU of the processor step in one process: decode → enrich → write into embedded ClickHouse.

The records of ``bench.processor`` (``bench.spans.RequestFactory`` exports mapped by
``ingest.mapping.map_export_request``, packed into ``ObservationBatch`` values of ~300 records)
are decoded and cut into batches of ``--batch`` records, each enriched (``default_enricher``)
and written (``ClickHouseWriter``) in the calling thread, as the consumer's worker thread
does, without Kafka. Prints the process CPU and wall time, the time per ClickHouse statement
kind, the parts written by inserts and merges (``bench.processor.PART_EVENTS``, from
``system.events``; chdb has no ``system.part_log``), and, with ``--settle``, the CPU once the
background merges launched meanwhile finished (so that their CPU is counted: a short run
otherwise leaves some of it out). ``thread_cpu_s`` splits the process CPU by thread name
(``/proc/self/task/*/stat``, per thread id): ``MergeMutate`` is ClickHouse's background merges,
which the ``system.events`` merge counters give only as wall time. ``disk`` has the active
parts and their bytes, ``most_active_parts`` the most active parts seen (all tables, sampled
every ``PARTS_EVERY`` batches): fewer merges leave more parts for each read to open.
``--setting NAME=VALUE`` (MergeTree settings on ``observations`` and ``traces``) and ``--sql``
(any statement, ``{database}`` replaced) are applied after the migrations, to compare
variants of the schema without editing it.

    .venv/bin/python -m bench.processor_step --records 300000 --batch 20000 --settle
    .venv/bin/python -m bench.processor_step --records 100000 --batch 1000 --settle \
        --setting merge_selector_base=8

Guidance only on a shared machine: alternate the variants and compare CPU, not wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.processor import part_counters
from bench.spans import RequestFactory
from ingest.mapping.context import IngestContext
from ingest.mapping.request import map_export_request
from processors.batching import DEFAULT_BATCH_MAX_RECORDS
from processors.enrich import default_enricher
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.writer import ClickHouseWriter
from storage.records import ObservationRecord, decode_observation_batch, encode_observation_batch

SETTLE_MAX_S = 60.0
"""``--settle`` waits at most this long for the background merges."""


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TimedClient(ChdbClient):
    """``ChdbClient`` adding up the wall time of each statement kind (its first three words)."""

    def __init__(self, path: Path) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        super().__init__(path)

    def _query(
        self, sql: str, params: Mapping[str, Any] | None, fmt: str, starting: Any = None
    ) -> bytes:
        started = time.perf_counter()
        try:
            return super()._query(sql, params, fmt, starting)
        finally:
            kind = " ".join(sql.split()[:3])[:40]
            self.seconds[kind] += time.perf_counter() - started
            self.calls[kind] += 1


def make_values(records: int) -> list[bytes]:
    """About ``records`` records as ``ObservationBatch`` values (one per 100-trace export)."""
    factory = RequestFactory(100)
    ctx = IngestContext(project_id="bench-project", sdk_name="python", sdk_version="bench")
    values: list[bytes] = []
    count = 0
    while count < records:
        body, _ = factory.build()
        mapped = map_export_request(ExportTraceServiceRequest.FromString(body), ctx).records
        values.append(encode_observation_batch(mapped))
        count += len(mapped)
    return values


TABLES = ("observations", "traces")
"""The tables ``--setting`` changes and ``disk`` reports."""


def thread_ticks() -> dict[int, tuple[str, int]]:
    """CPU clock ticks (user + system) of each live thread of this process, by thread id, with
    its current name (proc(5), ``/proc/[pid]/task/[tid]/stat`` fields 14 and 15)."""
    ticks: dict[int, tuple[str, int]] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                line = stat.read()
        except OSError:
            continue  # the thread ended meanwhile
        name = line[line.index("(") + 1 : line.rindex(")")]
        fields = line[line.rindex(")") + 2 :].split()
        ticks[int(tid)] = (name, int(fields[11]) + int(fields[12]))
    return ticks


def thread_cpu_s(before: dict[int, tuple[str, int]]) -> dict[str, float]:
    """CPU seconds used since ``before`` (``thread_ticks``) by thread name, largest first.
    Threads that ended meanwhile are not counted (ClickHouse's pool threads live on)."""
    hz = os.sysconf("SC_CLK_TCK")
    spent: Counter[str] = Counter()
    for tid, (name, ticks) in thread_ticks().items():
        spent[name] += ticks - before.get(tid, (name, 0))[1]
    return {name: round(t / hz, 2) for name, t in spent.most_common() if t}


def disk_report(engine: ChdbClient, database: str = "otelfuse") -> dict[str, Any]:
    """Active parts, rows, bytes on disk and uncompressed bytes of ``TABLES``
    (``system.parts``; Compact parts have no per-column sizes, so a codec's effect shows in the
    table's bytes on disk)."""
    rows = engine.select(
        "SELECT table, count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS bytes,"
        " sum(data_uncompressed_bytes) AS uncompressed FROM system.parts"
        " WHERE active AND database = {db:String} GROUP BY table ORDER BY table",
        {"db": database},
    )
    return {
        row["table"]: {
            "parts": int(row["parts"]),
            "rows": int(row["rows"]),
            "bytes_on_disk": int(row["bytes"]),
            "uncompressed_bytes": int(row["uncompressed"]),
        }
        for row in rows
        if row["table"] in TABLES
    }


PARTS_EVERY = 10
"""``most_active_parts`` samples the active parts after every this many batches."""


def _active_parts(engine: ChdbClient) -> int:
    return int(
        engine.select("SELECT value FROM system.metrics WHERE metric = 'PartsActive'")[0]["value"]
    )


def _merges_running(engine: ChdbClient) -> int:
    return int(engine.select("SELECT count() AS n FROM system.merges")[0]["n"])


def run(
    records: int,
    batch_size: int,
    settle: bool,
    settings: Sequence[str] = (),
    statements: Sequence[str] = (),
) -> dict[str, Any]:
    """Decode, enrich and write about ``records`` records in batches of ``batch_size``, into
    tables changed by ``settings`` (``NAME=VALUE``) and ``statements`` after the migrations."""
    values = make_values(records)
    with tempfile.TemporaryDirectory(prefix="otelfuse-bench-") as tmp:
        engine = TimedClient(Path(tmp) / "chdb")
        apply_migrations(engine)
        for table in TABLES if settings else ():
            engine.command(f"ALTER TABLE otelfuse.{table} MODIFY SETTING {', '.join(settings)}")
        for statement in statements:
            engine.command(statement.replace("{database}", "otelfuse"))
        enricher = default_enricher(Path(tmp))
        writer = ClickHouseWriter(engine)
        warm = decode_observation_batch(values[0])  # loads the catalog and the tokenizer
        enricher.enrich(warm)
        writer.write_observations(warm)
        before = part_counters(engine)
        engine.seconds.clear()
        engine.calls.clear()
        split = {"decode": 0.0, "enrich": 0.0, "write": 0.0}
        threads_before = thread_ticks()
        cpu_start, started = _cpu_s(), time.perf_counter()
        pending: list[ObservationRecord] = []
        written = batches = most_parts = 0
        for index, value in enumerate(values[1:]):
            t0 = time.perf_counter()
            pending.extend(decode_observation_batch(value))
            split["decode"] += time.perf_counter() - t0
            if len(pending) < batch_size and index < len(values) - 2:
                continue
            t1 = time.perf_counter()
            enricher.enrich(pending)
            t2 = time.perf_counter()
            writer.write_observations(pending)
            split["enrich"] += t2 - t1
            split["write"] += time.perf_counter() - t2
            written += len(pending)
            pending = []
            batches += 1
            if batches % PARTS_EVERY == 0:
                most_parts = max(most_parts, _active_parts(engine))
        wall = time.perf_counter() - started
        cpu = _cpu_s() - cpu_start
        report: dict[str, Any] = {
            "records": written,
            "batch": batch_size,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "rows_per_cpu_s": round(written / cpu),
            "time_split_s": {k: round(v, 2) for k, v in split.items()},
            "statements": {
                kind: {"calls": engine.calls[kind], "s": round(s, 3)}
                for kind, s in engine.seconds.items()
            },
        }
        if settle:
            waited = time.perf_counter()
            while time.perf_counter() - waited < SETTLE_MAX_S:
                if not _merges_running(engine):
                    time.sleep(1.0)  # a merge scheduled right after the last one finished
                    if not _merges_running(engine):
                        break
                time.sleep(0.2)
            settled = _cpu_s() - cpu_start
            report["settled"] = {
                "waited_s": round(time.perf_counter() - waited, 1),
                "cpu_s": round(settled, 2),
                "rows_per_cpu_s": round(written / settled),
            }
        threads = thread_cpu_s(threads_before)
        report["thread_cpu_s"] = threads
        report["merge_cpu_us_per_record"] = round(threads.get("MergeMutate", 0) / written * 1e6, 1)
        report["load_average"] = [round(load, 2) for load in os.getloadavg()]
        after = part_counters(engine)
        report["clickhouse_parts"] = {label: after[label] - before[label] for label in after}
        report["disk"] = disk_report(engine)
        report["most_active_parts"] = most_parts
        engine.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH_MAX_RECORDS)
    parser.add_argument("--settle", action="store_true", help="wait for the merges, count them")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="MergeTree setting for observations and traces (repeatable)",
    )
    parser.add_argument(
        "--sql",
        action="append",
        default=[],
        metavar="STATEMENT",
        help="statement run after the migrations, {database} replaced (repeatable)",
    )
    args = parser.parse_args()
    report = run(args.records, args.batch, args.settle, args.setting, args.sql)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
