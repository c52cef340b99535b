"""Small value helpers shared by the mapping modules (JSON text, JS-like strings, numbers).

Decoded attribute values (see ``attributes.py``) are plain Python values:
``str | bool | int | float | list[Value] | dict[str, Value] | None``. Langfuse's mapper is
JavaScript, so several rules depend on JS notions: "meaningful" values, ``String(x)`` and
``JSON.stringify(x)``. The helpers here give those notions one Python spelling each.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

import orjson
from orjson import dumps as _orjson_dumps

from storage.nesting import deeper_than, truncate

Value: TypeAlias = Any
"""A decoded attribute value: str, bool, int, float, list, dict or None."""

__all__ = [
    "Value",
    "as_decimal_string",
    "as_non_negative_int",
    "js_string",
    "json_encode",
    "json_text",
    "loads_or_none",
    "meaningful",
    "truthy",
]


def meaningful(value: Value) -> bool:
    """True unless ``value`` is None, ``""``, ``[]`` or ``{}`` (docs/reference/langfuse.md §1.7).

    ``False`` and ``0`` are meaningful (they are not "empty").
    """
    if value is None or value == "":
        return False
    if isinstance(value, (list, dict)):
        return len(value) > 0
    return True


def truthy(value: Value) -> bool:
    """JavaScript truthiness: False for None, ``""``, ``0``, ``0.0``, NaN and ``False``.

    Empty lists/dicts are truthy, as in JavaScript. Langfuse's ``a || b`` / ``if (x)`` chains
    use this notion (docs/reference/langfuse.md §1.8, §1.11). Loops over many absent keys test
    ``value is not None`` first, which skips the call for them.
    """
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == value and value != 0
    return True


def json_encode(value: Value) -> str:
    """Compact JSON text of ``value`` (strings become JSON strings), like ``JSON.stringify``.

    Uses orjson. A value too deep for it is stored truncated (``storage.nesting``: containers
    below ``MAX_DEPTH`` become a marker string) rather than refused; values orjson refuses
    otherwise (integers beyond 64 bits) go through the standard library. Non-finite floats
    never reach here (``attributes.decode_any_value`` turns them into strings).
    """
    try:
        # ``_orjson_dumps``, not ``orjson.dumps``: compiled, a module attribute is a getattr on
        # the module per call (about 270 instructions), an imported name a lookup of our own.
        return _orjson_dumps(value).decode()
    except TypeError:
        if deeper_than(value):
            value = truncate(value)
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def json_text(value: Value) -> str:
    """Payload text: a string is stored as given, anything else as compact JSON text.

    This is how input/output and trace input/output are stored (docs/reference/langfuse.md §1.11:
    "values are stored as given").
    """
    if isinstance(value, str):
        return value
    return json_encode(value)


def loads_or_none(text: Value) -> Value:
    """Parse ``text`` as JSON; None when it is not a string or not valid JSON."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def js_string(value: Value) -> str:
    """``String(value)`` as JavaScript would print it (``true``, ``1``, ``a,b``).

    Used where Langfuse calls ``toString()`` (tags, Vercel model parameters). Dicts, for which
    JavaScript prints ``[object Object]``, are given as JSON text instead.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return ",".join(js_string(v) for v in value)
    return json_encode(value)


def as_non_negative_int(value: Value) -> int | None:
    """A token count: a non-negative integer from an int, an integral float or such a string.

    ``12``, ``12.0`` and ``"12"`` give 12; negatives, fractions (``0.5``), booleans and anything
    else give None, so a stray float such as a cost never becomes a token count
    (docs/reference/langfuse.md §1.10 "free map": keep non-negative integers, drop the rest).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return as_non_negative_int(int(text))
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value >= 0:
        return int(value)
    return None


def as_decimal_string(value: Value) -> str | None:
    """A USD amount as a plain decimal string (``0.0009525``, never ``9.525E-4``).

    Accepts ints, finite floats (via ``str(float)`` so no binary artefacts) and numeric strings;
    negatives, booleans and anything else give None (Langfuse's ``CostDetails`` is
    ``nonnegative``; docs/reference/langfuse.md §1.8 costDetails).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        if not number.is_finite() or number < 0:
            return None
        if number == 0:
            return "0"
        text = format(number, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text or "0"
    return None
