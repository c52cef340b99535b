"""CPU of embedded ClickHouse per INSERT statement, by variant of its settings (guidance;
docs/benchmarks.md "ClickHouse work per insert").

The writer's statements for batches of ``--batch`` records (``bench.processor_step.make_values``,
enriched, written by ``ClickHouseWriter``) are recorded once: the SQL, the ``structure`` and
the payload of each ``observations`` (Protobuf) and ``traces`` (Arrow) insert. They are then
run again into the emptied tables with background merges stopped,
each statement once per variant in alternating order (``--variant NAME='setting = value, ...'``
adds those settings to the statement; ``base`` runs it unchanged), after one untimed round.
Printed: process CPU (``getrusage``, all threads) in ms per statement, by table and variant,
and two floors: ``SELECT 1`` and the observation insert of its first record alone (the cost
of an insert that does not depend on its rows).

    .venv/bin/python -m bench.insert_costs --batch 1000 --variant thr1='max_threads = 1'

Guidance only on a shared machine: compare the variants of one run, not runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processor_step import make_values
from processors.enrich import default_enricher
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.prepared import PreparedInsert
from storage.clickhouse.writer import ClickHouseWriter
from storage.records import ObservationRecord, decode_observation_batch


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True, slots=True)
class Statement:
    """One recorded insert: ``sql`` reads ``payload`` through ``structure``."""

    table: str
    sql: str
    structure: str | None
    payload: bytes


class RecordingClient(ChdbClient):
    """``ChdbClient`` keeping every file insert it prepares (``_insert_from_file``)."""

    def __init__(self, path: Path) -> None:
        self.statements: list[Statement] = []
        super().__init__(path)

    def _insert_from_file(self, sql: str, structure: str | None, payload: bytes) -> PreparedInsert:
        table = sql.split()[2].rpartition(".")[2]
        self.statements.append(Statement(table, sql, structure, payload))
        return super()._insert_from_file(sql, structure, payload)


def record(client: RecordingClient, records: int, batch: int, folder: Path) -> list[Statement]:
    """The ``observations`` and ``traces`` inserts of about ``records`` records written in
    batches of ``batch``."""
    values = make_values(records)
    enricher = default_enricher(folder)
    writer = ClickHouseWriter(client)
    pending: list[ObservationRecord] = []
    for value in values:
        pending.extend(decode_observation_batch(value))
        while len(pending) >= batch:
            chunk, pending = pending[:batch], pending[batch:]
            enricher.enrich(chunk)
            writer.write_observations(chunk)
    return [s for s in client.statements if s.table in ("observations", "traces")]


def with_settings(sql: str, settings: str) -> str:
    """``sql`` with ``settings`` first in its ``SETTINGS`` clause (or as one)."""
    if not settings:
        return sql
    if " SETTINGS " not in sql:
        return f"{sql} SETTINGS {settings}"
    return sql.replace(" SETTINGS ", f" SETTINGS {settings}, ", 1)


def first_message(payload: bytes) -> bytes:
    """The first length-delimited message of a Protobuf stream."""
    size = shift = offset = 0
    while True:
        byte = payload[offset]
        size |= (byte & 0x7F) << shift
        offset += 1
        shift += 7
        if byte < 0x80:
            return payload[: offset + size]


PROBES = 5
"""Each round runs ``SELECT 1`` and the one-record insert this many times."""


def replay(
    client: ChdbClient, statements: Sequence[Statement], variants: dict[str, str], rounds: int
) -> dict[str, Any]:
    """CPU ms per statement by ``table variant`` over ``rounds`` timed rounds (after one
    untimed one), into emptied tables with merges stopped."""
    client.command("TRUNCATE TABLE otelfuse.observations")
    client.command("TRUNCATE TABLE otelfuse.traces")
    client.command("SYSTEM STOP MERGES")
    first = next(s for s in statements if s.table == "observations")
    one = Statement(first.table, first.sql, first.structure, first_message(first.payload))
    items: list[tuple[str, Statement | None]] = [(s.table, s) for s in statements]
    items += [("SELECT 1", None), ("observations, 1 record", one)] * PROBES
    spent: defaultdict[str, list[float]] = defaultdict(list)
    names = list(variants)
    for round_ in range(rounds + 1):
        for index, (label, statement) in enumerate(items):
            for name in names if (round_ + index) % 2 == 0 else names[::-1]:
                started = _cpu_s()
                if statement is None:
                    client.select(with_settings("SELECT 1", variants[name]))
                else:
                    sql = with_settings(statement.sql, variants[name])
                    client._insert_from_file(sql, statement.structure, statement.payload).run()
                if round_:
                    spent[f"{label} {name}"].append(_cpu_s() - started)
    return {
        label: {"n": len(values), "cpu_ms": round(sum(values) / len(values) * 1e3, 2)}
        for label, values in sorted(spent.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=SETTINGS",
        help="settings added to every statement (repeatable); 'base' runs them unchanged",
    )
    args = parser.parse_args()
    variants = {"base": ""}
    for item in args.variant:
        name, _, settings = item.partition("=")
        variants[name] = settings
    with tempfile.TemporaryDirectory(prefix="otelfuse-inserts-") as tmp:
        client = RecordingClient(Path(tmp) / "chdb")
        apply_migrations(client)
        statements = record(client, args.records, args.batch, Path(tmp))
        report = replay(client, statements, variants, args.rounds)
        client.close()
    counts = {t: sum(s.table == t for s in statements) for t in ("observations", "traces")}
    print(
        json.dumps(
            {
                "batch": args.batch,
                "inserts": counts,
                "cpu_ms_per_statement": report,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
