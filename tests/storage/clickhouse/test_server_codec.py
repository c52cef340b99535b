"""The writer's rows for the REAL schema through clickhouse-driver's native column codec, offline.

The 18.16 test server cannot hold the real schema (DateTime64, Map, Bool, LowCardinality...), so
this checks the client half of a modern server's insert path without a server: the column types
come from chdb's ``system.columns`` (the migrated schema), the values from the writer's row
builders, converted by ``server_values.insert_columns``; each column is encoded with the
driver's Native-format writer and decoded again, and must come back equal.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_driver.bufferedreader import BufferedSocketReader
from clickhouse_driver.bufferedwriter import BufferedSocketWriter
from clickhouse_driver.columns.service import read_column, write_column
from clickhouse_driver.context import Context

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.columns import ColumnTypes, system_columns
from storage.clickhouse.micros import datetime_us
from storage.clickhouse.rows import content_hash, observation_row
from storage.clickhouse.server_values import insert_columns
from storage.clickhouse.traces import merge_trace, trace_columns
from tests.support.chdb import DATABASE
from tests.support.records import BASE_US, generation, new_id, record

NOW = BASE_US + 5_000_000


class _ServerInfo:
    timezone = "UTC"
    session_timezone = None
    revision = used_revision = 54468

    def get_timezone(self) -> str:
        return "UTC"


@pytest.fixture
def codec() -> Iterator[tuple[Context, BufferedSocketWriter, BufferedSocketReader]]:
    context = Context()
    context.client_settings = {
        "strings_as_bytes": False,
        "strings_encoding": "utf-8",
        "use_numpy": False,
        "input_format_null_as_default": False,
        "namedtuple_as_json": True,
    }
    context.server_info = _ServerInfo()
    context.settings = {}
    left, right = socket.socketpair()
    try:
        yield context, BufferedSocketWriter(left, 1 << 20), BufferedSocketReader(right, 1 << 20)
    finally:
        left.close()
        right.close()


def normal(value: Any) -> Any:
    """Compare driver output with writer input: times as µs, money as Decimal, tuples as lists."""
    if isinstance(value, datetime):
        return datetime_us(value)
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, str):
        try:
            return Decimal(value).normalize() if value[:1].isdigit() and "." in value else value
        except ArithmeticError:
            return value
    if isinstance(value, dict):
        return {normal(k): normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    return value


def rows_for(table: str) -> list[dict[str, Any]]:
    trace_id = new_id(32)
    full = generation("p", trace_id, trace={"tags": ["a", "b"], "metadata": {"k": "v"}})
    sparse = record("p", trace_id, end_us=None)  # optional fields unset -> None
    if table == "observations":
        return [
            observation_row(r, record_hash=content_hash(r), created_at_us=NOW, updated_at_us=NOW,
                            event_ts_us=NOW)
            for r in (full, sparse)
        ]  # fmt: skip
    state = merge_trace(None, ("p", trace_id), [full, sparse], now_us=NOW)
    columns = trace_columns([state], updated_at_us=NOW, event_ts_us=NOW + 1)
    return [{name: values[0] for name, values in columns.items()}]


@pytest.mark.parametrize("types_check", [False, True])
@pytest.mark.parametrize("table", ["observations", "traces"])
def test_writer_rows_round_trip_through_the_native_codec(
    client: ChdbClient,
    codec: tuple[Context, BufferedSocketWriter, BufferedSocketReader],
    table: str,
    types_check: bool,
) -> None:
    context, writer, reader = codec
    rows = rows_for(table)
    columns: Sequence[str] = tuple(rows[0])
    types = ColumnTypes(system_columns(client.select)).types(f"{DATABASE}.{table}", columns)
    assert any(t.startswith("Map(") for t in types) and "DateTime64(6)" in types
    data = insert_columns(types, [tuple(r.values()) for r in rows])
    for name, type_name, values in zip(columns, types, data, strict=True):
        write_column(context, name, type_name, list(values), writer, types_check=types_check)
        writer.flush()
        back = read_column(context, type_name, len(values), reader)
        expected = [row[name] for row in rows]
        assert normal(list(back)) == normal(expected), (name, type_name)
