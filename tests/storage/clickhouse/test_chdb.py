"""ChdbClient: parameters, JSON rows, inserts and the error mapping."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from storage.clickhouse.arrow import encode_arrow_stream
from storage.clickhouse.chdb import EMBEDDED_SERVER_SETTINGS, SMALL_INSERT_BYTES, ChdbClient
from storage.clickhouse.classify import classify_error
from storage.clickhouse.client import ProtobufInsert
from storage.clickhouse.json_rows import chdb_converter, encode_json_rows
from storage.clickhouse.params import encode_param
from storage.errors import PermanentError, RetryableError
from tests.support.chdb import TRICKY


@pytest.mark.parametrize("value", TRICKY)
def test_string_and_array_parameters_round_trip(client: ChdbClient, value: str) -> None:
    rows = client.select(
        "SELECT {s:String} AS s, {a:Array(String)} AS a", {"s": value, "a": [value, "x"]}
    )
    assert rows == [{"s": value, "a": [value, "x"]}]


def test_scalar_parameters(client: ChdbClient) -> None:
    rows = client.select(
        "SELECT {i:Int64} AS i, {b:Bool} AS b, {f:Float64} AS f, {e:Array(String)} AS e,"
        " toUnixTimestamp64Micro({d:DateTime64(6)}) AS d",
        {"i": -5, "b": True, "f": 1.25, "e": [], "d": "1763770000.000001"},
    )
    assert rows == [{"i": -5, "b": True, "f": 1.25, "e": [], "d": 1763770000000001}]


def test_encode_param_text_forms() -> None:
    assert encode_param("a\tb\\") == "a\\tb\\\\"
    assert encode_param(["it's", 'q"']) == "['it\\'s','q\"']"
    assert encode_param(True) == "true"
    assert encode_param(7) == "7"


def test_insert_and_select(client: ChdbClient) -> None:
    client.command(
        "CREATE TABLE IF NOT EXISTS default.engine_t (id String, n UInt64) ENGINE = Memory"
    )
    client.command("TRUNCATE TABLE default.engine_t")
    client.insert_rows("default.engine_t", ["id", "n"], [("a", 1), ["b", 2]])
    client.insert_rows("default.engine_t", ["id", "n"], [])
    assert client.select("SELECT id, n FROM default.engine_t ORDER BY id") == [
        {"id": "a", "n": 1},
        {"id": "b", "n": 2},
    ]


def test_syntax_and_type_errors_are_permanent(client: ChdbClient) -> None:
    with pytest.raises(PermanentError, match="62"):
        client.select("SELEC 1")
    with pytest.raises(PermanentError, match="457"):
        client.select("SELECT {n:Int32} AS n", {"n": "not a number"})
    client.command("CREATE TABLE IF NOT EXISTS default.engine_dt (t DateTime64(6)) ENGINE = Memory")
    with pytest.raises(PermanentError, match="CANNOT_PARSE_DATETIME"):
        client.insert_rows("default.engine_dt", ["t"], [("garbage",)])
    with pytest.raises(PermanentError, match="invalid table name"):
        client.insert_rows("default.t; DROP TABLE x", ["t"], [(1,)])
    # the session stays usable after a failed streaming insert
    assert client.select("SELECT 1 AS ok") == [{"ok": 1}]


def test_other_errors_are_retryable(client: ChdbClient) -> None:
    with pytest.raises(RetryableError, match="UNKNOWN_DATABASE"):
        client.select("SELECT * FROM no_such_db.t")


def test_classify_error_without_code_is_retryable() -> None:
    assert isinstance(classify_error(RuntimeError("socket closed"), "SELECT 1"), RetryableError)
    assert isinstance(
        classify_error(RuntimeError("Code: 53. DB::Exception: Type mismatch"), "SELECT 1"),
        PermanentError,
    )


def test_insert_rows_converts_values_by_column_type(client: ChdbClient) -> None:
    client.command(
        "CREATE TABLE IF NOT EXISTS default.engine_conv (k UInt32, t DateTime64(6),"
        " tn Nullable(DateTime64(6)), t3 DateTime64(3), ts DateTime, ta Array(DateTime64(6)),"
        " d Date, m Decimal(18, 12), mm Map(LowCardinality(String), Decimal(18, 12)),"
        " b Bool, n Nullable(String)) ENGINE = MergeTree ORDER BY k"
    )
    client.command("TRUNCATE TABLE default.engine_conv")
    us = 1_763_770_000_123_456
    aware = datetime(2025, 11, 22, 0, 6, 40, 123_456, tzinfo=UTC)
    client.insert_rows(
        "default.engine_conv",
        ["k", "t", "tn", "t3", "ts", "ta", "d", "m", "mm", "b", "n"],
        [
            (1, us, None, us, us, [us, us + 1], date(2020, 1, 2), "0.1", {"a": "1E-12"}, True,
             None),
            (2, aware, aware.replace(tzinfo=None), aware, aware, [], date(2020, 1, 3),
             Decimal("2.5"), {"b": Decimal("3")}, False, "x"),
        ],
    )  # fmt: skip
    rows = client.select(
        "SELECT k, toUnixTimestamp64Micro(t) AS t, toUnixTimestamp64Micro(tn) AS tn,"
        " toUnixTimestamp64Milli(t3) AS t3, toUnixTimestamp(ts) AS ts,"
        " arrayMap(x -> toUnixTimestamp64Micro(x), ta) AS ta, d, toString(m) AS m,"
        " mapApply((k, v) -> (k, toString(v)), mm) AS mm, b, n"
        " FROM default.engine_conv ORDER BY k"
    )
    assert rows == [
        {"k": 1, "t": us, "tn": None, "t3": us // 1000, "ts": us // 10**6, "ta": [us, us + 1],
         "d": "2020-01-02", "m": "0.1", "mm": {"a": "0.000000000001"}, "b": True, "n": None},
        {"k": 2, "t": us, "tn": us, "t3": us // 1000, "ts": us // 10**6, "ta": [],
         "d": "2020-01-03", "m": "2.5", "mm": {"b": "3"}, "b": False, "n": "x"},
    ]  # fmt: skip


def test_insert_rows_rejects_bad_rows(client: ChdbClient) -> None:
    client.command(
        "CREATE TABLE IF NOT EXISTS default.engine_t (id String, n UInt64) ENGINE = Memory"
    )
    before = client.select("SELECT count() AS c FROM default.engine_t")
    with pytest.raises(PermanentError, match="117"):  # NULL in a non-Nullable column
        client.insert_rows("default.engine_t", ["id", "n"], [(None, 1)])
    with pytest.raises(PermanentError, match="no such column"):
        client.insert_rows("default.engine_t", ["id", "nope"], [("a", 1)])
    with pytest.raises(PermanentError, match="row 0 has 1 values"):
        client.insert_rows("default.engine_t", ["id", "n"], [("a",)])
    with pytest.raises(PermanentError, match="duplicate column"):
        client.insert_rows("default.engine_t", ["id", "id"], [("a", "b")])
    with pytest.raises(PermanentError, match="invalid column name"):
        client.insert_rows("default.engine_t", ["id`, n"], [("a",)])
    with pytest.raises(PermanentError, match=r"invalid value for ClickHouse \(TypeError"):
        client.insert_rows("default.engine_t", ["id", "n"], [("a", object())])
    with pytest.raises(RetryableError, match="does not exist"):
        client.insert_rows("default.engine_missing", ["id"], [("a",)])
    assert client.select("SELECT count() AS c FROM default.engine_t") == before


def test_insert_rows_from_a_generator_is_all_or_nothing(client: ChdbClient) -> None:
    client.command(
        "CREATE TABLE IF NOT EXISTS default.engine_gen (id String, n UInt64) ENGINE = Memory"
    )
    client.command("TRUNCATE TABLE default.engine_gen")
    bad = PermanentError("record 3 is invalid")

    def rows(fail_at: int | None) -> Iterator[tuple[str, int]]:
        for n in range(5):
            if n == fail_at:
                raise bad
            yield (f"r{n}", n)

    with pytest.raises(PermanentError) as raised:
        client.insert_rows("default.engine_gen", ["id", "n"], rows(fail_at=3))
    assert raised.value is bad  # the producer's error, unchanged
    assert client.select("SELECT count() AS c FROM default.engine_gen") == [{"c": 0}]
    client.insert_rows("default.engine_gen", ["id", "n"], rows(fail_at=None))
    client.insert_rows("default.engine_gen", ["id", "n"], iter(()))
    assert client.select("SELECT count() AS c FROM default.engine_gen") == [{"c": 5}]


# ---- insert_columns (Arrow) and insert_protobuf ------------------------------------------------

CONVERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS default.engine_cols (k UInt32, t DateTime64(6),"
    " tn Nullable(DateTime64(6)), t3 DateTime64(3), ts DateTime, ta Array(DateTime64(6)),"
    " d Date, m Decimal(18, 12), mm Map(LowCardinality(String), Decimal(18, 12)),"
    " b Bool, n Nullable(String), lc LowCardinality(String), u UInt64, i Int8, f Float64,"
    " mu Map(LowCardinality(String), UInt64), a Array(String), mn Nullable(UInt32))"
    " ENGINE = MergeTree ORDER BY k"
)
CONVERSION_SELECT = (
    "SELECT k, toUnixTimestamp64Micro(t) AS t, toUnixTimestamp64Micro(tn) AS tn,"
    " toUnixTimestamp64Milli(t3) AS t3, toUnixTimestamp(ts) AS ts,"
    " arrayMap(x -> toUnixTimestamp64Micro(x), ta) AS ta, d, toString(m) AS m,"
    " mapApply((k, v) -> (k, toString(v)), mm) AS mm, b, n, lc, u, i, f, mu, a, mn"
    " FROM default.{table} ORDER BY k"
)


def test_insert_columns_converts_values_like_insert_rows(client: ChdbClient) -> None:
    client.command(CONVERSION_TABLE)
    client.command(CONVERSION_TABLE.replace("engine_cols", "engine_rows"))
    for table in ("engine_cols", "engine_rows"):
        client.command(f"TRUNCATE TABLE default.{table}")
    us = 1_763_770_000_123_456
    aware = datetime(2025, 11, 22, 0, 6, 40, 123_456, tzinfo=UTC)
    columns = ["k", "t", "tn", "t3", "ts", "ta", "d", "m", "mm", "b", "n", "lc", "u", "i", "f",
               "mu", "a", "mn"]  # fmt: skip
    rows = [
        (1, us, None, us, us, [us, us + 1], date(2020, 1, 2), "0.1", {"a": "1E-12"}, True, None,
         "x", 2**64 - 1, -128, 1.5, {"in": 2**63}, ["p", ""], None),
        (2, aware, aware.replace(tzinfo=None), aware, aware, [], date(2020, 1, 3),
         Decimal("2.5"), {"b": Decimal("3")}, 0, "ü'\n\\", "", 0, 127, 2, {}, [], 0),
        (3, us, us, us, us, [aware], date(1970, 1, 1), 7, {}, 1, "", "y", 5, 0, -0.25,
         {"": 0}, ["q"], 2**32 - 1),
    ]  # fmt: skip
    client.insert_rows("default.engine_rows", columns, rows)
    data = [list(column) for column in zip(*rows, strict=True)]
    client.insert_columns("default.engine_cols", columns, data)
    client.insert_columns("default.engine_cols", columns, [[] for _ in columns])  # no-op
    expected = client.select(CONVERSION_SELECT.format(table="engine_rows"))
    assert client.select(CONVERSION_SELECT.format(table="engine_cols")) == expected
    assert expected[0]["t"] == us and expected[0]["mm"] == {"a": "0.000000000001"}
    assert expected[1]["b"] is False and expected[2]["b"] is True


def test_file_inserts_store_what_insert_select_from_file_stored(client: ChdbClient) -> None:
    """``insert_columns`` / ``insert_rows`` (``INSERT ... FROM INFILE``) store the same rows as
    the ``INSERT ... SELECT * FROM file(path, format, structure)`` they replaced, for the same
    encoded data."""
    client.command(CONVERSION_TABLE)
    client.command(CONVERSION_TABLE.replace("engine_cols", "engine_old"))
    for table in ("engine_cols", "engine_old"):
        client.command(f"TRUNCATE TABLE default.{table}")
    us = 1_763_770_000_123_456
    columns = ["k", "t", "tn", "t3", "ts", "ta", "d", "m", "mm", "b", "n", "lc", "u", "i", "f",
               "mu", "a", "mn"]  # fmt: skip
    rows = [
        (1, us, None, us, us, [us, us + 1], date(2020, 1, 2), "0.1", {"a": "1E-12"}, True, None,
         "x", 2**64 - 1, -128, 1.5, {"in": 2**63}, ["p", ""], None),
        (2, us + 7, us, us, us, [], date(1970, 1, 1), 7, {}, 0, "ü'\n\\", "", 0, 127, -0.25,
         {"": 0}, [], 2**32 - 1),
    ]  # fmt: skip
    data = [list(column) for column in zip(*rows, strict=True)]
    types = client._types.types("default.engine_cols", columns)
    payload = encode_arrow_stream(columns, types, data)
    assert payload is not None
    structure = ", ".join(f"`{c}` {t}" for c, t in zip(columns, types, strict=True))
    client.insert_columns("default.engine_cols", columns, data)
    client.insert_rows("default.engine_cols", columns, [(k + 10, *rest) for k, *rest in rows])
    old = (
        "INSERT INTO default.engine_old ({names}) SELECT * FROM file({{data_file:String}},"
        " '{fmt}', {{structure:String}}) SETTINGS input_format_null_as_default = 0"
    )
    names = ", ".join(columns)
    client._insert_from_file(old.format(names=names, fmt="ArrowStream"), structure, payload).run()
    json_rows = [(k + 10, *rest) for k, *rest in rows]
    converters = [
        (i, convert) for i, t in enumerate(types) if (convert := chdb_converter(t)) is not None
    ]
    encoded = encode_json_rows(json_rows, columns, converters)
    client._insert_from_file(
        old.format(names=names, fmt="JSONCompactEachRow"), structure, encoded
    ).run()
    stored = client.select(CONVERSION_SELECT.format(table="engine_cols"))
    assert len(stored) == 4
    assert stored == client.select(CONVERSION_SELECT.format(table="engine_old"))


def test_errors_raised_while_inserting_reach_the_caller(client: ChdbClient) -> None:
    """The reason inserts go through the query path (``_prepare_file_insert``): ClickHouse's
    refusals while writing (too many parts, a read-only table) raise."""
    client.command(
        "CREATE TABLE IF NOT EXISTS default.engine_refuse (k UInt32) ENGINE = MergeTree"
        " ORDER BY k SETTINGS parts_to_throw_insert = 1, parts_to_delay_insert = 1"
    )
    client.command("TRUNCATE TABLE default.engine_refuse")
    client.command("SYSTEM STOP MERGES default.engine_refuse")
    client.insert_columns("default.engine_refuse", ["k"], [[1]])
    with pytest.raises(RetryableError, match="TOO_MANY_PARTS"):
        client.insert_columns("default.engine_refuse", ["k"], [[2]])
    with pytest.raises(RetryableError, match="TOO_MANY_PARTS"):
        client.insert_rows("default.engine_refuse", ["k"], [[3]])
    client.command("ALTER TABLE default.engine_refuse MODIFY SETTING table_readonly = 1")
    with pytest.raises(RetryableError, match="READ_ONLY"):
        client.insert_columns("default.engine_refuse", ["k"], [[4]])
    assert client.select("SELECT k FROM default.engine_refuse") == [{"k": 1}]


def test_insert_columns_falls_back_to_json_for_other_types(client: ChdbClient) -> None:
    client.command(
        "CREATE TABLE IF NOT EXISTS default.engine_enum (k UInt8, e Enum8('x' = 1, 'y' = 2),"
        " g UUID) ENGINE = Memory"
    )
    client.command("TRUNCATE TABLE default.engine_enum")
    uuid = "6f1e9f3a-6a8b-4b34-9c53-0d7f3b1f2a10"
    client.insert_columns("default.engine_enum", ["k", "e", "g"], [[1, 2], ["x", "y"], [uuid] * 2])
    assert client.select("SELECT k, e, toString(g) AS g FROM default.engine_enum ORDER BY k") == [
        {"k": 1, "e": "x", "g": uuid},
        {"k": 2, "e": "y", "g": uuid},
    ]


def test_insert_columns_rejects_bad_data(client: ChdbClient) -> None:
    client.command(CONVERSION_TABLE)
    client.command("TRUNCATE TABLE default.engine_cols")
    good: list[list[Any]]
    good = [[1], [1_763_770_000_000_000], [None], [0], [0], [[]], [date(2020, 1, 1)], ["0"],
            [{}], [True], [None], ["x"], [1], [1], [1.0], [{}], [[]], [None]]  # fmt: skip
    columns = ["k", "t", "tn", "t3", "ts", "ta", "d", "m", "mm", "b", "n", "lc", "u", "i", "f",
               "mu", "a", "mn"]  # fmt: skip

    def with_value(column: str, value: Any) -> list[list[Any]]:
        data = [list(c) for c in good]
        data[columns.index(column)] = [value]
        return data

    table = "default.engine_cols"
    with pytest.raises(PermanentError, match="NULL value in column 'lc'"):
        client.insert_columns(table, columns, with_value("lc", None))
    with pytest.raises(PermanentError, match="NULL value in column 'a'"):
        client.insert_columns(table, columns, with_value("a", ["x", None]))
    with pytest.raises(PermanentError, match="NULL value in column 'mu'"):
        client.insert_columns(table, columns, with_value("mu", {"k": None}))
    with pytest.raises(PermanentError, match="invalid value for ClickHouse"):
        client.insert_columns(table, columns, with_value("u", object()))
    with pytest.raises(PermanentError, match="invalid value for ClickHouse"):
        client.insert_columns(table, columns, with_value("u", -1))
    with pytest.raises(PermanentError, match="CANNOT_PARSE"):
        client.insert_columns(table, columns, with_value("m", "lots"))
    with pytest.raises(PermanentError, match="different lengths"):
        client.insert_columns(table, ["k", "n"], [[1, 2], ["x"]])
    with pytest.raises(PermanentError, match="value lists for"):
        client.insert_columns(table, ["k", "n"], [[1]])
    with pytest.raises(PermanentError, match="no such column"):
        client.insert_columns(table, ["k", "nope"], [[1], [1]])
    with pytest.raises(RetryableError, match="does not exist"):
        client.insert_columns("default.engine_missing", ["id"], [["a"]])
    assert client.select("SELECT count() AS c FROM default.engine_cols") == [{"c": 0}]
    client.insert_columns(table, columns, good)
    assert client.select("SELECT count() AS c FROM default.engine_cols") == [{"c": 1}]


def test_prepared_inserts_run_once(client: ChdbClient) -> None:
    client.command("CREATE TABLE IF NOT EXISTS default.engine_prep (id String) ENGINE = Memory")
    client.command("TRUNCATE TABLE default.engine_prep")
    prepared = client.prepare_columns("default.engine_prep", ["id"], [["a", "b"]])
    calls: list[str] = []
    prepared.run(lambda: calls.append("starting"))
    assert calls == ["starting"]
    with pytest.raises(RuntimeError, match="runs once"):
        prepared.run()
    client.prepare_columns("default.engine_prep", ["id"], [["never"]]).discard()
    empty = client.prepare_columns("default.engine_prep", ["id"], [[]])
    empty.run(lambda: calls.append("empty"))
    assert calls == ["starting", "empty"]
    assert client.select("SELECT id FROM default.engine_prep ORDER BY id") == [
        {"id": "a"},
        {"id": "b"},
    ]


def test_small_inserts_run_on_one_thread(client: ChdbClient) -> None:
    """Inserts below ``SMALL_INSERT_BYTES`` of data run with ``max_threads = 1``, larger ones
    with the engine's default (the column's DEFAULT reads the setting the insert ran with)."""
    client.command(
        "CREATE TABLE IF NOT EXISTS default.engine_threads (k String,"
        " threads UInt64 DEFAULT getSetting('max_threads')) ENGINE = Memory"
    )
    client.command("TRUNCATE TABLE default.engine_threads")
    client.insert_columns("default.engine_threads", ["k"], [["small"]])
    client.insert_rows("default.engine_threads", ["k"], [["rows"]])
    client.insert_columns("default.engine_threads", ["k"], [["large" + "x" * SMALL_INSERT_BYTES]])
    default = client.select("SELECT getSetting('max_threads') AS t")[0]["t"]
    assert client.select(
        "SELECT substring(k, 1, 5) AS k, threads FROM default.engine_threads ORDER BY k"
    ) == [
        {"k": "large", "threads": default},
        {"k": "rows", "threads": 1},
        {"k": "small", "threads": 1},
    ]


PROTO = """syntax = "proto3";
message Item { string name = 1; optional string note = 2; map<string, uint64> counts = 3;
  repeated string tags = 4; optional int64 at_us = 5; }
"""


def _delimited(*messages: bytes) -> bytes:
    out = b""
    for message in messages:
        assert len(message) < 128
        out += bytes((len(message),)) + message
    return out


def test_insert_protobuf(client: ChdbClient) -> None:
    client.command(
        "CREATE TABLE IF NOT EXISTS default.engine_pb (name String, note Nullable(String),"
        " counts Map(LowCardinality(String), UInt64), tags Array(String),"
        " at Nullable(DateTime64(6)), threads UInt64 DEFAULT getSetting('max_threads'))"
        " ENGINE = Memory"
    )
    client.command("TRUNCATE TABLE default.engine_pb")
    # hand-encoded Item messages: name="a", note="" (set), counts={"x": 300}, tags=["t"]
    first = b"\x0a\x01a" + b"\x12\x00" + b"\x1a\x06\x0a\x01x\x10\xac\x02" + b"\x22\x01t"
    second = b"\x0a\x01b" + b"\x28" + bytes([0xC0, 0xC4, 0x07])  # at_us = 123456
    columns = ["name", "note", "counts", "tags", "at"]
    expressions = ["upper(name)", "note", "counts", "tags", "fromUnixTimestamp64Micro(at_us)"]
    insert = ProtobufInsert(
        "default.engine_pb",
        columns,
        expressions,
        structure="name String, note Nullable(String), counts Map(String, UInt64),"
        " tags Array(String), at_us Nullable(Int64)",
        schema=PROTO,
        message="Item",
        payload=_delimited(first, second),
    )
    client.insert_protobuf(insert)
    client.insert_protobuf(dataclasses.replace(insert, payload=b""))
    assert client.select(
        "SELECT name, note, counts, tags, toUnixTimestamp64Micro(at) AS at"
        " FROM default.engine_pb ORDER BY name"
    ) == [
        {"name": "A", "note": "", "counts": {"x": 300}, "tags": ["t"], "at": None},
        {"name": "B", "note": None, "counts": {}, "tags": [], "at": 123456},
    ]
    with pytest.raises(PermanentError, match="invalid protobuf message name"):
        client.insert_protobuf(dataclasses.replace(insert, message="Item; DROP", payload=b"x"))
    with pytest.raises(PermanentError, match="expressions for"):
        client.insert_protobuf(dataclasses.replace(insert, expressions=["name"], payload=b"x"))
    with pytest.raises(PermanentError, match="ATTEMPT_TO_READ_AFTER_EOF"):  # corrupt data
        client.insert_protobuf(dataclasses.replace(insert, payload=b"\x05\xff\xff"))
    assert client.select("SELECT count() AS c FROM default.engine_pb") == [{"c": 2}]
    # a small insert: see test_small_inserts_run_on_one_thread
    assert client.select("SELECT DISTINCT threads FROM default.engine_pb") == [{"threads": 1}]
    assert not any(client.path.joinpath("otelfuse-inserts").glob("insert-*"))


def test_the_embedded_engine_keeps_few_idle_threads_and_small_caches(client: ChdbClient) -> None:
    """#15 item 10: ClickHouse's server defaults (5 GiB mark and index caches) are
    replaced by ``EMBEDDED_SERVER_SETTINGS``."""
    names = ", ".join(f"'{name}'" for name in EMBEDDED_SERVER_SETTINGS)
    rows = client.select(f"SELECT name, value FROM system.server_settings WHERE name IN ({names})")
    assert {row["name"]: int(row["value"]) for row in rows} == dict(EMBEDDED_SERVER_SETTINGS)
