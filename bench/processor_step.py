"""CPU of the processor step in one process: decode → enrich → write into embedded ClickHouse.

The records of ``bench.processor`` (``bench.spans.RequestFactory`` exports mapped by
``ingest.mapping.map_export_request``, packed into ``ObservationBatch`` values of ~300 records)
are decoded and cut into batches of ``--batch`` records, each enriched (``default_enricher``)
and written (``ClickHouseWriter``) in the calling thread, as the consumer's worker thread
does, without Kafka. Prints the process CPU and wall time, the time per ClickHouse statement
kind, the parts written by inserts and merges (``bench.processor.PART_EVENTS``, from
``system.events``; chdb has no ``system.part_log``), and, with ``--settle``, the CPU once the
background merges launched meanwhile finished (so that their CPU is counted: a short run
otherwise leaves some of it out).

    .venv/bin/python -m bench.processor_step --records 300000 --batch 20000 --settle

Guidance only on a shared machine: alternate the variants and compare CPU, not wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
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


def _merges_running(engine: ChdbClient) -> int:
    return int(engine.select("SELECT count() AS n FROM system.merges")[0]["n"])


def run(records: int, batch_size: int, settle: bool) -> dict[str, Any]:
    """Decode, enrich and write about ``records`` records in batches of ``batch_size``."""
    values = make_values(records)
    with tempfile.TemporaryDirectory(prefix="otelfuse-bench-") as tmp:
        engine = TimedClient(Path(tmp) / "chdb")
        apply_migrations(engine)
        enricher = default_enricher(Path(tmp))
        writer = ClickHouseWriter(engine)
        warm = decode_observation_batch(values[0])  # loads the catalog and the tokenizer
        enricher.enrich(warm)
        writer.write_observations(warm)
        before = part_counters(engine)
        engine.seconds.clear()
        engine.calls.clear()
        split = {"decode": 0.0, "enrich": 0.0, "write": 0.0}
        cpu_start, started = _cpu_s(), time.perf_counter()
        pending: list[ObservationRecord] = []
        written = 0
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
        after = part_counters(engine)
        report["clickhouse_parts"] = {label: after[label] - before[label] for label in after}
        engine.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH_MAX_RECORDS)
    parser.add_argument("--settle", action="store_true", help="wait for the merges, count them")
    args = parser.parse_args()
    print(json.dumps(run(args.records, args.batch, args.settle), indent=2))


if __name__ == "__main__":
    main()
