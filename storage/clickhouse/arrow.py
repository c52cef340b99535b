"""Apache Arrow IPC stream encoding of column-oriented insert data (``ChdbClient.insert_columns``).

Each ClickHouse column type maps to the Arrow type chdb's ``ArrowStream`` input converts exactly
(ClickHouse docs, "Formats: Arrow, data types matching"); ``encode_arrow_stream`` returns None
for types without such a form, and the caller falls back to JSON rows (``json_rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from storage.clickhouse.types import Converter, build_converter, split_type
from storage.errors import PermanentError

__all__ = ["encode_arrow_stream"]


@cache
def _pyarrow() -> Any:
    import pyarrow  # ships with chdb; imported on first use (~0.1 s)

    return pyarrow


@dataclass(frozen=True, slots=True)
class _ArrowSpec:
    """How the values of one ClickHouse type become an Arrow array that chdb converts exactly."""

    arrow_type: Any
    nullable: bool = False
    children: tuple[_ArrowSpec, ...] = ()
    """``Array``: (element,); ``Map``: (key, value)."""


_ARROW_INTS = {
    "UInt8": "uint8",
    "UInt16": "uint16",
    "UInt32": "uint32",
    "UInt64": "uint64",
    "Int8": "int8",
    "Int16": "int16",
    "Int32": "int32",
    "Int64": "int64",
    "Float32": "float32",
    "Float64": "float64",
}
_DECIMAL_FAMILIES = frozenset({"Decimal", "Decimal32", "Decimal64", "Decimal128", "Decimal256"})


@lru_cache(maxsize=1024)
def _arrow_spec(type_name: str) -> _ArrowSpec | None:
    """The Arrow form of ``type_name``; None when ``insert_columns`` should use the JSON path.

    Each mapping was checked to round-trip exactly through chdb's ArrowStream input: strings
    (also into ``LowCardinality`` and ``Decimal``, which ClickHouse parses like JSONEachRow
    text), integers, floats, bools, dates, and times as ``timestamp[us, UTC]`` (Unix µs ints
    or datetimes, naive = UTC; ClickHouse truncates to the column's precision).
    """
    pa = _pyarrow()
    family, args = split_type(type_name)
    if family == "LowCardinality" and args:
        return _arrow_spec(args[0])
    if family == "Nullable" and args:
        inner = _arrow_spec(args[0])
        return None if inner is None else _ArrowSpec(inner.arrow_type, True, inner.children)
    if family == "Array" and len(args) == 1:
        element = _arrow_spec(args[0])
        return (
            None if element is None else _ArrowSpec(pa.list_(element.arrow_type), False, (element,))
        )
    if family == "Map" and len(args) == 2:
        key, value = _arrow_spec(args[0]), _arrow_spec(args[1])
        if key is None or value is None:
            return None
        return _ArrowSpec(pa.map_(key.arrow_type, value.arrow_type), False, (key, value))
    if args and family not in _DECIMAL_FAMILIES and family not in ("DateTime64", "DateTime"):
        return None
    if family == "String" or family in _DECIMAL_FAMILIES:
        return _ArrowSpec(pa.string())
    if family in ("DateTime64", "DateTime"):
        return _ArrowSpec(pa.timestamp("us", tz="UTC"))
    if family in ("Date", "Date32"):
        return _ArrowSpec(pa.date32())
    if family == "Bool":
        return _ArrowSpec(pa.bool_())
    if family in _ARROW_INTS:
        return _ArrowSpec(getattr(pa, _ARROW_INTS[family])())
    return None  # Enum, FixedString, UUID, Tuple, ...: JSON path


def _decimal_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _bool_value(value: Any) -> Any:
    return bool(value) if type(value) is int else value


def _arrow_leaf(family: str, args: list[str]) -> Converter | None:
    if family in _DECIMAL_FAMILIES:
        return _decimal_value
    if family == "Bool":
        return _bool_value
    return None


@lru_cache(maxsize=1024)
def _arrow_normaliser(type_name: str) -> Converter | None:
    """Rewrites values pyarrow does not take as they are: ``Decimal``/numbers for a Decimal
    column -> text, ``int`` for a Bool column -> ``bool``. Used only when ``pa.array`` failed."""
    return build_converter(type_name, _arrow_leaf, leaf_passes_none=True)


def _arrow_array(values: Sequence[Any], type_name: str, spec: _ArrowSpec) -> Any:
    pa = _pyarrow()
    try:
        array = pa.array(values, type=spec.arrow_type)
    except (TypeError, ValueError, OverflowError):  # includes pyarrow's ArrowTypeError/Invalid
        normalise = _arrow_normaliser(type_name)
        if normalise is None:
            raise
        array = pa.array([normalise(v) for v in values], type=spec.arrow_type)
    return array


def _has_forbidden_null(array: Any, spec: _ArrowSpec) -> bool:
    """A null where ClickHouse's type is not Nullable (chdb would reject it as retryable)."""
    if array.null_count and not spec.nullable:
        return True
    if len(spec.children) == 1:
        return _has_forbidden_null(array.flatten(), spec.children[0])
    if len(spec.children) == 2:
        return _has_forbidden_null(array.keys, spec.children[0]) or _has_forbidden_null(
            array.items, spec.children[1]
        )
    return False


def encode_arrow_stream(
    columns: Sequence[str], types: Sequence[str], data: Sequence[Sequence[Any]]
) -> bytes | None:
    """``data`` (one value list per column) as Arrow IPC stream bytes for chdb's ArrowStream
    input, or None when a column type has no exact Arrow form (use the JSON path).

    Raises:
        PermanentError: a ``None`` in a non-Nullable position.
        TypeError/ValueError/OverflowError: a value pyarrow cannot convert (the caller
            classifies it as permanent).
    """
    specs = [_arrow_spec(type_name) for type_name in types]
    if any(spec is None for spec in specs):
        return None
    pa = _pyarrow()
    arrays = []
    for name, type_name, spec, values in zip(columns, types, specs, data, strict=True):
        assert spec is not None
        array = _arrow_array(values, type_name, spec)
        if _has_forbidden_null(array, spec):
            raise PermanentError(f"NULL value in column {name!r} of non-Nullable type {type_name}")
        arrays.append(array)
    table = pa.Table.from_arrays(arrays, names=list(columns))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    payload: bytes = sink.getvalue().to_pybytes()
    return payload
