"""ChdbEngine: parameters, JSON rows, inserts and the error mapping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from storage.clickhouse.engine import ChdbEngine, classify_error, encode_param
from storage.errors import PermanentError, RetryableError

TRICKY = [
    "o'k",
    "back\\slash",
    "tab\there",
    "new\nline",
    "cr\rx",
    "nul\0x",
    "ünïcødé 😀",
    "{x:String}",
    "'; DROP TABLE otelfuse.traces; --",
    "\\'",
    "",
]


@pytest.mark.parametrize("value", TRICKY)
def test_string_and_array_parameters_round_trip(engine: ChdbEngine, value: str) -> None:
    rows = engine.select(
        "SELECT {s:String} AS s, {a:Array(String)} AS a", {"s": value, "a": [value, "x"]}
    )
    assert rows == [{"s": value, "a": [value, "x"]}]


def test_scalar_parameters(engine: ChdbEngine) -> None:
    rows = engine.select(
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


def test_insert_and_select(engine: ChdbEngine) -> None:
    engine.command(
        "CREATE TABLE IF NOT EXISTS default.engine_t (id String, n UInt64) ENGINE = Memory"
    )
    engine.command("TRUNCATE TABLE default.engine_t")
    engine.insert_rows("default.engine_t", ["id", "n"], [("a", 1), ["b", 2]])
    engine.insert_rows("default.engine_t", ["id", "n"], [])
    assert engine.select("SELECT id, n FROM default.engine_t ORDER BY id") == [
        {"id": "a", "n": 1},
        {"id": "b", "n": 2},
    ]


def test_syntax_and_type_errors_are_permanent(engine: ChdbEngine) -> None:
    with pytest.raises(PermanentError, match="62"):
        engine.select("SELEC 1")
    with pytest.raises(PermanentError, match="457"):
        engine.select("SELECT {n:Int32} AS n", {"n": "not a number"})
    engine.command("CREATE TABLE IF NOT EXISTS default.engine_dt (t DateTime64(6)) ENGINE = Memory")
    with pytest.raises(PermanentError, match="CANNOT_PARSE_DATETIME"):
        engine.insert_rows("default.engine_dt", ["t"], [("garbage",)])
    with pytest.raises(PermanentError, match="invalid table name"):
        engine.insert_rows("default.t; DROP TABLE x", ["t"], [(1,)])
    # the session stays usable after a failed streaming insert
    assert engine.select("SELECT 1 AS ok") == [{"ok": 1}]


def test_other_errors_are_retryable(engine: ChdbEngine) -> None:
    with pytest.raises(RetryableError, match="UNKNOWN_DATABASE"):
        engine.select("SELECT * FROM no_such_db.t")


def test_classify_error_without_code_is_retryable() -> None:
    assert isinstance(classify_error(RuntimeError("socket closed"), "SELECT 1"), RetryableError)
    assert isinstance(
        classify_error(RuntimeError("Code: 53. DB::Exception: Type mismatch"), "SELECT 1"),
        PermanentError,
    )


def test_insert_rows_converts_values_by_column_type(engine: ChdbEngine) -> None:
    engine.command(
        "CREATE TABLE IF NOT EXISTS default.engine_conv (k UInt32, t DateTime64(6),"
        " tn Nullable(DateTime64(6)), t3 DateTime64(3), ts DateTime, ta Array(DateTime64(6)),"
        " d Date, m Decimal(18, 12), mm Map(LowCardinality(String), Decimal(18, 12)),"
        " b Bool, n Nullable(String)) ENGINE = MergeTree ORDER BY k"
    )
    engine.command("TRUNCATE TABLE default.engine_conv")
    us = 1_763_770_000_123_456
    aware = datetime(2025, 11, 22, 0, 6, 40, 123_456, tzinfo=UTC)
    engine.insert_rows(
        "default.engine_conv",
        ["k", "t", "tn", "t3", "ts", "ta", "d", "m", "mm", "b", "n"],
        [
            (1, us, None, us, us, [us, us + 1], date(2020, 1, 2), "0.1", {"a": "1E-12"}, True,
             None),
            (2, aware, aware.replace(tzinfo=None), aware, aware, [], date(2020, 1, 3),
             Decimal("2.5"), {"b": Decimal("3")}, False, "x"),
        ],
    )  # fmt: skip
    rows = engine.select(
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


def test_insert_rows_rejects_bad_rows(engine: ChdbEngine) -> None:
    engine.command(
        "CREATE TABLE IF NOT EXISTS default.engine_t (id String, n UInt64) ENGINE = Memory"
    )
    before = engine.select("SELECT count() AS c FROM default.engine_t")
    with pytest.raises(PermanentError, match="117"):  # NULL in a non-Nullable column
        engine.insert_rows("default.engine_t", ["id", "n"], [(None, 1)])
    with pytest.raises(PermanentError, match="no such column"):
        engine.insert_rows("default.engine_t", ["id", "nope"], [("a", 1)])
    with pytest.raises(PermanentError, match="row 0 has 1 values"):
        engine.insert_rows("default.engine_t", ["id", "n"], [("a",)])
    with pytest.raises(PermanentError, match="duplicate column"):
        engine.insert_rows("default.engine_t", ["id", "id"], [("a", "b")])
    with pytest.raises(PermanentError, match="invalid column name"):
        engine.insert_rows("default.engine_t", ["id`, n"], [("a",)])
    with pytest.raises(PermanentError, match=r"invalid value for ClickHouse \(TypeError"):
        engine.insert_rows("default.engine_t", ["id", "n"], [("a", object())])
    with pytest.raises(RetryableError, match="does not exist"):
        engine.insert_rows("default.engine_missing", ["id"], [("a",)])
    assert engine.select("SELECT count() AS c FROM default.engine_t") == before


def test_insert_rows_from_a_generator_is_all_or_nothing(engine: ChdbEngine) -> None:
    engine.command(
        "CREATE TABLE IF NOT EXISTS default.engine_gen (id String, n UInt64) ENGINE = Memory"
    )
    engine.command("TRUNCATE TABLE default.engine_gen")
    bad = PermanentError("record 3 is invalid")

    def rows(fail_at: int | None) -> Iterator[tuple[str, int]]:
        for n in range(5):
            if n == fail_at:
                raise bad
            yield (f"r{n}", n)

    with pytest.raises(PermanentError) as raised:
        engine.insert_rows("default.engine_gen", ["id", "n"], rows(fail_at=3))
    assert raised.value is bad  # the producer's error, unchanged
    assert engine.select("SELECT count() AS c FROM default.engine_gen") == [{"c": 0}]
    engine.insert_rows("default.engine_gen", ["id", "n"], rows(fail_at=None))
    engine.insert_rows("default.engine_gen", ["id", "n"], iter(()))
    assert engine.select("SELECT count() AS c FROM default.engine_gen") == [{"c": 5}]
