"""CPU per record of the Python steps the all-in-one owner runs on each batch, without the
ClickHouse statements (``bench.processor_step`` has those): the owner's share of a batch that
is not ClickHouse's own work (docs/benchmarks.md "Owner's per-record Python, third round").

The records of ``bench.processor_step`` (enriched once, as the receiver workers hand them over)
are cut into batches of ``--batch`` records; each step runs over every batch ``--repeat`` times
and the best pass is reported, in µs of process CPU per record:

- ``decode``: ``decode_observation_batch`` of the batch's IPC payload;
- ``enrichment_stats``: the metrics read back from enriched records (``processors.batch``);
- ``attach_log_records``: the log step over a batch without log records (real
  ``SoleWriterLogIO`` and ``ObservationReader``; no statement is run for it);
- ``records_plain``, ``serialize_hash``, ``stream``: the writer's checks, content hashes and
  Protobuf payload (``storage.clickhouse.rows``);
- ``merge_new`` / ``merge_continued``: ``merge_trace`` of every trace of the batch and its
  ``trace_columns``, without / with a stored state;
- ``trace_prepare``: the merged traces' Arrow insert prepared (encoded, written to the scratch
  file) and discarded.

Each step runs once before it is timed (first-use work). Prints a JSON report.

    .venv/bin/python -m bench.owner_steps --records 20000 --batch 1000

Guidance only on a shared machine: alternate the variants.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.processor_step import make_values
from processors.enrich import default_enricher, enrichment_stats
from processors.log_merge import attach_log_records
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.log_io import LogIOStore, SoleWriterLogIO
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.observation_reader import ObservationReader
from storage.clickhouse.rows import observation_records_plain, observation_stream, record_bytes_hash
from storage.clickhouse.traces import TraceKey, TraceState, merge_trace, trace_columns
from storage.records import ObservationRecord, decode_observation_batch, encode_observation_batch

Batch = list[ObservationRecord]


def _merge(
    batch: Batch, states: dict[TraceKey, TraceState], now: int
) -> dict[TraceKey, TraceState]:
    groups: dict[TraceKey, Batch] = {}
    for record in batch:
        groups.setdefault((record.project_id, record.trace_id), []).append(record)
    merged = {
        key: merge_trace(states.get(key), key, recs, now_us=now) for key, recs in groups.items()
    }
    trace_columns(list(merged.values()), updated_at_us=now, event_ts_us=now)
    return merged


def run(records: int, batch_size: int, repeat: int) -> dict[str, Any]:
    """Time each step over ``records`` records in batches of ``batch_size`` (module docstring)."""
    values = make_values(records)
    with tempfile.TemporaryDirectory(prefix="otelfuse-bench-") as tmp:
        client = ChdbClient(Path(tmp) / "chdb")
        apply_migrations(client)
        enricher = default_enricher(Path(tmp))
        pool = [r for value in values for r in decode_observation_batch(value)]
        enricher.enrich(pool)
        count = len(pool) // batch_size
        batches = [pool[i * batch_size : (i + 1) * batch_size] for i in range(count)]
        payloads = [encode_observation_batch(b) for b in batches]
        serialized = [[r.SerializeToString(deterministic=True) for r in b] for b in batches]
        now = time.time_ns() // 1000
        stored = [_merge(b, {}, now) for b in batches]
        reader = ObservationReader(client, "otelfuse")
        kept = SoleWriterLogIO(LogIOStore(client, "otelfuse"))

        def prepare(i: int) -> None:
            merged = _merge(batches[i], {}, now)
            columns = trace_columns(list(merged.values()), updated_at_us=now, event_ts_us=now)
            insert = client.prepare_columns(
                "otelfuse.traces", tuple(columns), list(columns.values())
            )
            insert.discard()

        steps: dict[str, Callable[[int], object]] = {
            "decode": lambda i: decode_observation_batch(payloads[i]),
            "enrichment_stats": lambda i: enrichment_stats(batches[i]),
            "attach_log_records": lambda i: attach_log_records(batches[i], reader, kept),
            "records_plain": lambda i: observation_records_plain(batches[i]),
            "serialize_hash": lambda i: [
                record_bytes_hash(r.SerializeToString(deterministic=True)) for r in batches[i]
            ],
            "stream": lambda i: observation_stream(
                serialized[i], [1] * batch_size, [now] * batch_size
            ),
            "merge_new": lambda i: _merge(batches[i], {}, now),
            "merge_continued": lambda i: _merge(batches[i], stored[i], now + 1),
            "trace_prepare": prepare,
        }
        report: dict[str, Any] = {"records": count * batch_size, "batch": batch_size}
        per_record: dict[str, float] = {}
        for name, step in steps.items():
            step(0)  # first-use work: the column types, the kept-trace index, pyarrow
            best = float("inf")
            for _ in range(repeat):
                started = time.process_time()
                for i in range(count):
                    step(i)
                best = min(best, time.process_time() - started)
            per_record[name] = round(best / (count * batch_size) * 1e6, 2)
        report["cpu_us_per_record"] = per_record
        client.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report = run(args.records, args.batch, args.repeat)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
