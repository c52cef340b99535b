"""How JSON values travel to and from PostgreSQL ``jsonb`` (the pool's type codec).

PostgreSQL keeps ``jsonb`` numbers as ``numeric``, printed without an exponent: ``1e20`` comes
back as ``100000000000000000000`` and ``1.5e300`` as 301 digits (PostgreSQL documentation,
"JSON Types", numbers map to ``numeric``). The responses are rendered with orjson, which takes
integers in [-2**63, 2**64) only, so ``loads`` decodes a longer integer as the float it was
sent as. ``unservable_number`` finds a number that cannot make the round trip (NaN, infinite,
beyond a double such as ``1e400``, or an integer beyond 64 bits); the definitions refuse those
before storing (``storage.postgres.prompt_defs``, ``model_defs``: 400 with a reason).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads", "unservable_number"]

_INT_MIN, _INT_END = -(2**63), 2**64
"""orjson renders integers in [-2**63, 2**64) (signed and unsigned 64 bits)."""


def unservable_number(value: Any, depth: int = 0) -> object | None:
    """The first number in the JSON value ``value`` (dicts, lists, str, int, float, Decimal,
    bool, None) that cannot be stored in ``jsonb`` and served back as sent: a float or Decimal
    that is NaN, infinite or beyond a double (e.g. ``1e400``), or an integer outside
    [-2**63, 2**64). None when there is none. Values nested deeper than 200 levels are not
    looked at (callers bound depth first, ``storage.nesting``)."""
    if isinstance(value, bool) or value is None or isinstance(value, str) or depth > 200:
        return None
    if isinstance(value, int):
        return None if _INT_MIN <= value < _INT_END else value
    if isinstance(value, float | Decimal):
        try:
            finite = math.isfinite(float(value))
        except (OverflowError, ValueError):
            finite = False
        return None if finite else value
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return None
    for item in items:
        found = unservable_number(item, depth + 1)
        if found is not None:
            return found
    return None


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):  # bodies parsed with parse_float=Decimal
        integral = value == value.to_integral_value()
        return int(value) if integral and _INT_MIN <= value < _INT_END else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """``value`` as JSON text for a ``jsonb`` parameter (Decimals as int or float)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _jsonb_int(text: str) -> int | float:
    """A ``jsonb`` integer; beyond 64 bits a float (PostgreSQL wrote ``1e20`` as digits)."""
    if len(text) <= 21:  # a sign and 20 digits hold every 64-bit integer
        number = int(text)
        if _INT_MIN <= number < _INT_END:
            return number
    return float(text)


def loads(text: str) -> Any:
    """A ``jsonb`` column's JSON text as Python values (``_jsonb_int`` for integers)."""
    return json.loads(text, parse_int=_jsonb_int)
