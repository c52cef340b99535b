"""Type-name parsing, per-type converters, and ``open_client``'s URL handling."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import storage.clickhouse as clickhouse
from storage.clickhouse.server import ServerClient, database_from_url
from storage.clickhouse.server_values import insert_converter, json_converter
from storage.clickhouse.types import build_converter, split_type
from storage.errors import PermanentError

US = 1_763_770_000_123_456


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("String", ("String", [])),
        ("DateTime64(6, 'Asia/Tokyo')", ("DateTime64", ["6", "'Asia/Tokyo'"])),
        (
            "Map(LowCardinality(String), Decimal(18, 12))",
            ("Map", ["LowCardinality(String)", "Decimal(18, 12)"]),
        ),
        ("Tuple(a String, b Array(Tuple(UInt8, String)))",
         ("Tuple", ["a String", "b Array(Tuple(UInt8, String))"])),
        ("Enum8('a,b' = 1, 'c)' = 2)", ("Enum8", ["'a,b' = 1", "'c)' = 2"])),
    ],
)  # fmt: skip
def test_split_type(name: str, expected: tuple[str, list[str]]) -> None:
    assert split_type(name) == expected


def double_ints(family: str, args: list[str]) -> Any:
    return (lambda v: v * 2) if family.startswith("UInt") else None


def test_build_converter_walks_containers() -> None:
    assert build_converter("String", double_ints) is None
    assert build_converter("Array(Nullable(String))", double_ints) is None
    convert = build_converter(
        "Map(String, Array(Nullable(UInt8)))", double_ints, leaf_passes_none=False
    )
    assert convert is not None
    assert convert({"a": [1, None]}) == {"a": [2, None]}
    named = build_converter("Tuple(a String, b LowCardinality(UInt16))", double_ints)
    assert named is not None
    assert named(("x", 3)) == ("x", 6)
    assert named({"a": "x", "b": 3}) == {"a": "x", "b": 3}  # driver's named-tuple dicts


def test_server_insert_scales_microseconds_to_column_ticks() -> None:
    aware = datetime.fromtimestamp(US / 1e6, UTC).replace(microsecond=123_456)
    six = insert_converter("DateTime64(6)")
    assert six is not None
    assert six(US) == US
    assert six(aware) == US
    assert six(None) is None
    three = insert_converter("Nullable(DateTime64(3, 'UTC'))")
    assert three is not None
    assert three(US) == US // 1000
    assert three(None) is None
    nine = insert_converter("DateTime64(9)")
    assert nine is not None and nine(US) == US * 1000
    seconds = insert_converter("DateTime")
    assert seconds is not None and seconds(US) == US // 1_000_000
    assert insert_converter("Decimal(18, 12)") is None  # the driver parses text itself
    assert insert_converter("Map(String, Decimal(18, 12))") is None
    assert insert_converter("Array(String)") is None


def test_server_results_become_json_values() -> None:
    when = datetime(2025, 11, 22, 0, 6, 40, 123_456)
    assert json_converter("String") is None
    assert json_converter("Map(String, UInt64)") is None
    for type_name, expected in [
        ("DateTime", "2025-11-22 00:06:40"),
        ("DateTime('UTC')", "2025-11-22 00:06:40"),
        ("DateTime64(3)", "2025-11-22 00:06:40.123"),
        ("DateTime64(9, 'UTC')", "2025-11-22 00:06:40.123456000"),
    ]:
        convert = json_converter(type_name)
        assert convert is not None and convert(when) == expected
    nullable = json_converter("Nullable(Decimal(18, 12))")
    assert nullable is not None and nullable(None) is None and nullable(Decimal("0.5")) == 0.5
    tuples = json_converter("Array(Tuple(UInt8, String))")
    assert tuples is not None and tuples([(1, "a")]) == [[1, "a"]]


def test_database_from_url() -> None:
    assert database_from_url("clickhouse://u:p@h:9000/otelfuse?secure=false") == "otelfuse"
    assert database_from_url("clickhouse://h:9000/") is None
    assert database_from_url("clickhouse://h") is None
    with pytest.raises(PermanentError, match="invalid ClickHouse database"):
        database_from_url("clickhouse://h/a;b")
    assert clickhouse.database_for(None, "otelfuse") == "otelfuse"
    assert clickhouse.database_for("clickhouse://h/", "otelfuse") == "otelfuse"
    assert clickhouse.database_for("clickhouse://h/prod", "otelfuse") == "prod"


def test_open_client_picks_the_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opened: list[Path] = []

    class FakeChdb:
        def __init__(self, path: Path) -> None:
            opened.append(path)

    monkeypatch.setattr(clickhouse, "ChdbClient", FakeChdb)
    assert isinstance(clickhouse.open_client(None, tmp_path), FakeChdb)
    assert isinstance(clickhouse.open_client("", tmp_path), FakeChdb)
    assert opened == [tmp_path / "clickhouse", tmp_path / "clickhouse"]

    server = clickhouse.open_client("clickhouse://u:p%40ss@127.0.0.1:1/prod", tmp_path)
    assert isinstance(server, ServerClient)  # does not connect yet
    assert (server.host, server.port, server.database) == ("127.0.0.1", 1, "prod")
    server.close()
    tls = clickhouse.open_client("clickhouses://example.invalid/", tmp_path)
    assert isinstance(tls, ServerClient) and tls.port == 9440
    tls.close()

    with pytest.raises(PermanentError, match="unsupported ClickHouse URL scheme 'http'"):
        clickhouse.open_client("http://127.0.0.1:8123", tmp_path)
    with pytest.raises(PermanentError, match="use_numpy"):
        ServerClient("clickhouse://h/?use_numpy=true")


def test_unavailable_compression_is_a_clear_permanent_error() -> None:
    if importlib.util.find_spec("lz4") and importlib.util.find_spec("clickhouse_cityhash"):
        ServerClient("clickhouse://h/?compression=lz4").close()
    else:
        with pytest.raises(PermanentError, match=r"clickhouse-driver\[lz4\]"):
            ServerClient("clickhouse://h/?compression=lz4")
