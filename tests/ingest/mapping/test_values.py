"""AnyValue decoding (docs/reference/langfuse.md §1.3) and the value helpers."""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from ingest.mapping.attributes import decode_any_value, decode_key_values
from ingest.mapping.values import as_decimal_string, as_non_negative_int, js_string, truthy
from tests.ingest.mapping.spans import any_value, key_values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        (True, True),
        (9007199254740993, 9007199254740993),
        (0.25, 0.25),
        (["a", 1, [False]], ["a", 1, [False]]),
        ({"k": {"n": [1.5]}}, {"k": {"n": [1.5]}}),  # kvlist → dict (deliberate)
        (b"\x00\xff", "AP8="),  # bytes → base64 text
    ],
)
def test_decode_any_value(value: Any, expected: Any) -> None:
    assert decode_any_value(any_value(value)) == expected


def test_non_finite_doubles_become_strings_and_unset_is_none() -> None:
    assert decode_any_value(AnyValue(double_value=math.nan)) == "NaN"
    assert decode_any_value(AnyValue(double_value=math.inf)) == "Infinity"
    assert decode_any_value(AnyValue(double_value=-math.inf)) == "-Infinity"
    assert decode_any_value(AnyValue()) is None


def test_decode_key_values_decodes_each_case_like_decode_any_value() -> None:
    # decode_key_values reads strings, ints and doubles without WhichOneof; zeros, empty
    # strings, non-finite doubles and the other cases must still come out typed as the generic
    # decoder gives them (repr: 0 vs 0.0 vs False).
    values = [
        AnyValue(string_value="x"),
        AnyValue(string_value=""),
        AnyValue(int_value=7),
        AnyValue(int_value=0),
        AnyValue(int_value=-3),
        AnyValue(double_value=0.5),
        AnyValue(double_value=0.0),
        AnyValue(double_value=-0.0),
        AnyValue(double_value=math.nan),
        AnyValue(double_value=-math.inf),
        AnyValue(bool_value=True),
        AnyValue(bool_value=False),
        AnyValue(bytes_value=b""),
        AnyValue(),
        any_value([1, 0.0]),
    ]
    items = [KeyValue(key=f"k{i}", value=value) for i, value in enumerate(values)]
    decoded = decode_key_values(items)
    assert repr(list(decoded.values())) == repr([decode_any_value(value) for value in values])
    assert repr(list(decoded.values())) == repr(
        ["x", "", 7, 0, -3, 0.5, 0.0, -0.0, "NaN", "-Infinity", True, False, "", None, [1, 0.0]]
    )


def test_decode_key_values_last_duplicate_wins() -> None:
    items = key_values({"a": 1}) + key_values({"b": "x"}) + key_values({"a": 2})
    assert decode_key_values(items) == {"a": 2, "b": "x"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0009525, "0.0009525"),
        (1e-07, "0.0000001"),
        (2, "2"),
        ("0.50", "0.5"),
        (0, "0"),
        (-0.0, "0"),
        (-1, None),
        (True, None),
        ("abc", None),
        (math.inf, None),
        ([1], None),
    ],
)
def test_as_decimal_string(value: Any, expected: str | None) -> None:
    assert as_decimal_string(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), (5.0, 5), ("7", 7), (" 8 ", 8), ("9.0", 9), (0.5, None), (-1, None), (False, None)],
)
def test_as_non_negative_int(value: Any, expected: int | None) -> None:
    assert as_non_negative_int(value) == expected


def test_js_string_and_truthy() -> None:
    assert [js_string(v) for v in (True, 1.0, 0.5, ["a", 2], None)] == [
        "true",
        "1",
        "0.5",
        "a,2",
        "",
    ]
    values: tuple[Any, ...] = (0, 0.0, "", None, False, [], {}, "0")
    assert [truthy(v) for v in values] == [
        False,
        False,
        False,
        False,
        False,
        True,
        True,
        True,
    ]
