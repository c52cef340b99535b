"""ChdbEngine: parameters, JSON rows, inserts and the error mapping."""

from __future__ import annotations

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
    engine.insert_json_each_row("default.engine_t", [b'{"id":"a","n":1}', b'{"id":"b","n":2}'])
    engine.insert_json_each_row("default.engine_t", [])
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
        engine.insert_json_each_row("default.engine_dt", [b'{"t":"garbage"}'])
    with pytest.raises(PermanentError, match="invalid table name"):
        engine.insert_json_each_row("default.t; DROP TABLE x", [b"{}"])
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
