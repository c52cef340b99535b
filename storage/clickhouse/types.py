"""ClickHouse type names (as ``system.columns.type`` spells them) and per-type value converters.

Both clients need to adapt Python values to a column's type: the embedded client turns Unix µs
into the text ClickHouse parses, the server client scales µs to the column's tick size and turns
results back into JSON-typed values. This module parses type names such as
``Map(LowCardinality(String), Nullable(DateTime64(6, 'UTC')))`` and builds one converter per
column from a *leaf* rule, walking ``Nullable``, ``LowCardinality``, ``Array``, ``Map`` and
``Tuple`` so nested values are converted too. A converter of ``None`` means "pass unchanged",
which lets callers skip whole columns on the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["Converter", "LeafRule", "build_converter", "split_type"]

Converter = Callable[[Any], Any]
"""Converts one non-``None`` (or, for ``Nullable`` types, possibly ``None``) value."""

LeafRule = Callable[[str, list[str]], Converter | None]
"""Given a leaf type's family and arguments (``"DateTime64", ["6", "'UTC'"]``), its converter."""

_NAMED_ELEMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s+(?=[A-Za-z])")
_TRANSPARENT = frozenset({"LowCardinality"})


def split_type(type_name: str) -> tuple[str, list[str]]:
    """``"Map(String, Array(UInt8))"`` -> ``("Map", ["String", "Array(UInt8)"])``.

    Arguments are split at top-level commas (parentheses and quoted strings are respected) and
    stripped; a type without arguments gives ``(name, [])``.
    """
    name = type_name.strip()
    open_at = name.find("(")
    if open_at < 0 or not name.endswith(")"):
        return name, []
    return name[:open_at].strip(), _split_args(name[open_at + 1 : -1])


def _split_args(text: str) -> list[str]:
    args: list[str] = []
    depth = 0
    quote = ""
    start = 0
    escaped = False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail or args:
        args.append(tail)
    return args


def build_converter(
    type_name: str,
    leaf: LeafRule,
    *,
    tuple_type: type[tuple[Any, ...] | list[Any]] = tuple,
    leaf_passes_none: bool = False,
) -> Converter | None:
    """The converter for values of ``type_name``, or ``None`` when no value needs converting.

    ``leaf`` decides for every non-container type; containers convert their elements
    (``Nullable`` passes ``None`` through, ``Map`` converts keys and values). ``tuple_type`` is the
    sequence ``Tuple`` values are rebuilt as when an element needs converting (``list`` for JSON
    output); named tuples returned as dicts are left as they are. ``leaf_passes_none`` says the
    leaf converters already return ``None`` unchanged, which saves a wrapper call per value.
    """

    def build(name: str) -> Converter | None:
        family, args = split_type(name)
        if family in _TRANSPARENT and args:
            return build(args[0])
        if family == "SimpleAggregateFunction" and args:
            return build(args[-1])
        if family == "Nullable" and args:
            inner = build(args[0])
            return inner if leaf_passes_none else _nullable(inner)
        if family == "Array" and args:
            return _array(build(args[0]))
        if family == "Map" and len(args) == 2:
            return _map(build(args[0]), build(args[1]))
        if family == "Tuple" and args:
            return _tuple([build(_NAMED_ELEMENT.sub("", arg)) for arg in args], tuple_type)
        return leaf(family, args)

    return build(type_name)


def _nullable(inner: Converter | None) -> Converter | None:
    if inner is None:
        return None
    convert = inner

    def nullable(value: Any) -> Any:
        return None if value is None else convert(value)

    return nullable


def _array(inner: Converter | None) -> Converter | None:
    if inner is None:
        return None
    convert = inner

    def array(value: Any) -> Any:
        return [convert(item) for item in value]

    return array


def _map(keys: Converter | None, values: Converter | None) -> Converter | None:
    if keys is None and values is None:
        return None
    convert_key: Converter = keys or _identity
    convert_value: Converter = values or _identity

    def mapping(value: Any) -> Any:
        return {convert_key(k): convert_value(v) for k, v in value.items()}

    return mapping


def _tuple(
    elements: list[Converter | None], tuple_type: type[tuple[Any, ...] | list[Any]]
) -> Converter | None:
    if tuple_type is tuple and all(e is None for e in elements):
        return None
    converters = [e or _identity for e in elements]

    def tuple_value(value: Any) -> Any:
        if isinstance(value, dict):  # a named tuple the driver returned as a dict
            return value
        return tuple_type(c(v) for c, v in zip(converters, value, strict=False))

    return tuple_value


def _identity(value: Any) -> Any:
    return value
