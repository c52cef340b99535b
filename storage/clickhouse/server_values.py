"""Value adaptation for ``ServerClient``: insert values to driver values, results to JSON values.

clickhouse-driver takes ``DateTime64(p)`` values as raw integer ticks (10^-p s) and ``DateTime``
values as integer seconds, and returns ``datetime``, ``Decimal``, ``UUID`` and tuples. The client
contract (``client.Client``) uses Unix µs for inserts and chdb's JSONEachRow types for results;
these converters bridge the two, one per column type (``types.build_converter``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from storage.clickhouse.micros import datetime_us
from storage.clickhouse.types import Converter, build_converter

__all__ = ["insert_columns", "insert_converter", "json_converter"]


def _time_scaler(divisor: int, multiplier: int) -> Converter:
    if divisor == multiplier == 1:

        def same(value: Any) -> Any:  # DateTime64(6): µs are the column's ticks
            if type(value) is int:
                return value
            return datetime_us(value) if isinstance(value, datetime) else value

        return same

    def scale(value: Any) -> Any:
        if type(value) is not int:
            if not isinstance(value, datetime):
                return value  # let the driver reject it
            value = datetime_us(value)
        return value * multiplier // divisor

    return scale


def _precision(args: list[str], default: int) -> int:
    try:
        return int(args[0]) if args else default
    except ValueError:
        return default


def _insert_leaf(family: str, args: list[str]) -> Converter | None:
    # Decimal needs nothing: the driver parses Decimal(str(value)) itself, also when
    # types_check is on (its Decimal column only checks the integer digits then).
    if family == "DateTime64":
        precision = _precision(args, 3)
        if precision <= 6:
            return _time_scaler(10 ** (6 - precision), 1)
        return _time_scaler(1, 10 ** (precision - 6))
    if family == "DateTime":
        return _time_scaler(1_000_000, 1)
    return None


@lru_cache(maxsize=1024)
def insert_converter(type_name: str) -> Converter | None:
    """The converter of insert values for a column of ``type_name`` (``None``: none needed).

    ``int`` Unix µs -> the column's ticks (``DateTime64(p)``: µs scaled to 10^-p s, truncating;
    ``DateTime``: whole seconds); ``datetime`` -> the same via its Unix µs (naive = UTC).
    Everything else (decimal text included) is passed to the driver unchanged.
    """
    return build_converter(type_name, _insert_leaf, leaf_passes_none=True)


def _datetime64_text(precision: int) -> Converter:
    def text(value: Any) -> Any:
        base = value.strftime("%Y-%m-%d %H:%M:%S")
        if precision <= 0:
            return base
        return f"{base}.{(f'{value.microsecond:06d}' + '000')[:precision]}"

    return text


def _date_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _json_leaf(family: str, args: list[str]) -> Converter | None:
    if family == "DateTime64":
        return _datetime64_text(_precision(args, 3))
    if family == "DateTime":
        return _datetime64_text(0)
    if family in ("Date", "Date32"):
        return _date_text
    if family.startswith("Decimal"):
        return float  # what chdb's JSON number gives; select toString(x) for exact values
    if family in ("UUID", "IPv4", "IPv6"):
        return str
    return None


@lru_cache(maxsize=1024)
def json_converter(type_name: str) -> Converter | None:
    """The converter of result values of ``type_name`` to chdb's JSON-typed values.

    DateTime/DateTime64(p) -> ``"YYYY-MM-DD hh:mm:ss[.p digits]"`` (server time zone), Date ->
    ISO text, Decimal -> float, UUID/IPv4/IPv6 -> text, Tuple -> list; ``None`` when the driver's
    values already match.
    """
    return build_converter(type_name, _json_leaf, tuple_type=list)


def insert_columns(types: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Transpose ``rows`` (already checked to have ``len(types)`` values each) into one list per
    column, converted for clickhouse-driver's columnar insert (``insert_converter``).

    Raises:
        TypeError/ValueError/...: a value that cannot be converted (classified as permanent).
    """
    columns = [list(column) for column in zip(*rows, strict=False)]  # lengths checked by caller
    for index, type_name in enumerate(types):
        convert = insert_converter(type_name)
        if convert is not None:
            columns[index] = [convert(v) for v in columns[index]]
    return columns
