"""CPU of embedded ClickHouse for two schema questions (guidance; docs/benchmarks.md
"ClickHouse merges per row").

``codec``: the ``input``/``output`` codec. ``--rows`` rows of English-like text (phrases drawn
from ``docs/*.md``; ~1 KB input and ~0.7 KB output, JSON chat messages) inserted in parts of
``--batch`` rows into a two-column table, then joined by one ``OPTIMIZE ... FINAL`` merge and
read back once; prints the process CPU per row of each step and the bytes on disk.
``bench.spans`` payloads repeat a few messages and compress ~15x, which hides codec
differences; this text compresses ~5x with ZSTD(3), nearer to real prompts.

``reads``: the writer's trace-state read (``FINAL``, 100 ids) against the same rows in 10, 20
and 40 parts, merges stopped: what a merge setting that leaves more parts costs each read.

    .venv/bin/python -m bench.chdb_costs codec --codec 'ZSTD(3)' --rows 50000 --batch 2000
    .venv/bin/python -m bench.chdb_costs reads
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import tempfile
import time
from pathlib import Path

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.traces import TRACE_STATE_COLUMNS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _message(rng: random.Random, words: list[str], size: int) -> str:
    """A JSON chat message of about ``size`` characters: runs of 3–30 consecutive words."""
    chunks: list[str] = []
    length = 0
    while length < size:
        start = rng.randrange(len(words))
        chunk = " ".join(words[start : start + rng.randrange(3, 30)])
        chunks.append(chunk)
        length += len(chunk) + 1
    return json.dumps([{"role": "user", "content": " ".join(chunks)}])


def codec(codec_name: str, rows: int, batch: int) -> str:
    """Insert, merge and read ``rows`` rows through columns with ``codec_name``; a report line."""
    words = [w for f in sorted(DOCS.glob("*.md")) for w in re.findall(r"\S+", f.read_text())]
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="otelfuse-codec-") as tmp:
        files = []
        for b in range(rows // batch):
            path = Path(tmp) / f"batch-{b}.jsonl"
            with path.open("w") as out:
                for i in range(batch):
                    row = {
                        "id": b * batch + i,
                        "input": _message(rng, words, 1000),
                        "output": _message(rng, words, 700),
                    }
                    out.write(json.dumps(row) + "\n")
            files.append(path)
        engine = ChdbClient(Path(tmp) / "chdb")
        engine.command(
            f"CREATE TABLE default.t (id UInt64, input Nullable(String) CODEC({codec_name}),"
            f" output Nullable(String) CODEC({codec_name})) ENGINE = MergeTree ORDER BY id"
            " SETTINGS min_bytes_for_wide_part = 134217728,"
            " max_bytes_to_merge_at_max_space_in_pool = 1"  # no background merge
        )
        structure = "id UInt64, input Nullable(String), output Nullable(String)"
        start = _cpu_s()
        for path in files:
            engine.command(
                f"INSERT INTO default.t SELECT * FROM file('{path}', 'JSONEachRow', '{structure}')"
            )
        inserted = _cpu_s()
        engine.command("OPTIMIZE TABLE default.t FINAL")
        merged = _cpu_s()
        engine.select("SELECT sum(length(input)) + sum(length(output)) AS n FROM default.t")
        read = _cpu_s()
        disk = engine.select(
            "SELECT count() AS parts, sum(bytes_on_disk) AS bytes,"
            " sum(data_uncompressed_bytes) AS raw FROM system.parts"
            " WHERE database = 'default' AND table = 't' AND active"
        )[0]
        engine.close()
    per_row = 1e6 / (len(files) * batch)
    return (
        f"{codec_name}: insert {(inserted - start) * per_row:.2f} µs/row, merge"
        f" {(merged - inserted) * per_row:.2f}, read {(read - merged) * per_row:.2f};"
        f" {int(disk['bytes']):,} bytes on disk of {int(disk['raw']):,} uncompressed;"
        f" load {os.getloadavg()[0]:.2f}"
    )


def reads(rows: int = 80_000, queries: int = 50) -> list[str]:
    """CPU per trace-state read of 100 ids over ``rows`` trace rows in 10, 20 and 40 parts."""
    lines = []
    with tempfile.TemporaryDirectory(prefix="otelfuse-reads-") as tmp:
        engine = ChdbClient(Path(tmp) / "chdb")
        apply_migrations(engine)
        engine.command("SYSTEM STOP MERGES otelfuse.traces")
        ids = ", ".join(f"'t{i * 1597 % rows}'" for i in range(100))
        query = (
            f"SELECT {TRACE_STATE_COLUMNS} FROM otelfuse.traces FINAL"
            f" PREWHERE project_id = 'p' AND id IN ({ids}) WHERE is_deleted = 0"
        )
        for parts in (10, 20, 40):
            engine.command("TRUNCATE TABLE otelfuse.traces")
            per_part = rows // parts
            for k in range(parts):
                engine.command(
                    "INSERT INTO otelfuse.traces (id, project_id, timestamp, name, event_ts,"
                    " input, output) SELECT concat('t', toString(number)), 'p', now64(6), 'n',"
                    " now64(6), repeat('x', 500), repeat('y', 500)"
                    f" FROM numbers({k * per_part}, {per_part})"
                )
            engine.select(query)
            start, wall = _cpu_s(), time.perf_counter()
            for _ in range(queries):
                engine.select(query)
            lines.append(
                f"{parts} parts: {(_cpu_s() - start) / queries * 1e3:.1f} ms CPU per read"
                f" ({(time.perf_counter() - wall) / queries * 1e3:.1f} ms wall);"
                f" load {os.getloadavg()[0]:.2f}"
            )
        engine.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    codec_parser = commands.add_parser("codec", help="input/output codec cost and size")
    codec_parser.add_argument("--codec", default="ZSTD(3)")
    codec_parser.add_argument("--rows", type=int, default=50_000)
    codec_parser.add_argument("--batch", type=int, default=2_000)
    commands.add_parser("reads", help="trace-state read cost by number of parts")
    args = parser.parse_args()
    if args.command == "codec":
        print(codec(args.codec, args.rows, args.batch))
    else:
        print("\n".join(reads()))


if __name__ == "__main__":
    main()
