"""USD amounts as ``Decimal``: parsing provided costs, rounding and formatting stored costs.

Langfuse keeps prices as Postgres ``numeric``, computes with decimal.js and stores costs as
``Decimal64(12)`` / ``Decimal(18,12)``: 12 fractional digits, |value| < 1e6
(docs/reference/langfuse.md §4.6). Records carry money as plain decimal strings (records.proto).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

__all__ = ["COST_DIGITS", "format_usd", "parse_usd", "quantize_usd"]

COST_DIGITS = 12
"""Fractional digits kept for every stored cost (docs/reference/langfuse.md §4.6)."""

_QUANTUM = Decimal(1).scaleb(-COST_DIGITS)
# 18 integer digits + 12 fractional digits fit with room to spare; never raises on inexact.
_CONTEXT = Context(prec=40, rounding=ROUND_HALF_UP)


def quantize_usd(amount: Decimal) -> Decimal:
    """Round ``amount`` (USD) half-up to 12 fractional digits."""
    return amount.quantize(_QUANTUM, context=_CONTEXT)


def format_usd(amount: Decimal) -> str:
    """``amount`` (USD) rounded to 12 fractional digits as a plain string without exponent.

    Trailing zeros are dropped: ``Decimal("2.5E-3")`` -> ``"0.0025"``, ``Decimal(0)`` -> ``"0"``.
    """
    text = format(amount.quantize(_QUANTUM, context=_CONTEXT), "f")  # = quantize_usd, inlined
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_usd(text: str) -> Decimal | None:
    """Parse a provided cost (USD decimal string, e.g. ``"0.0025"`` or ``"2.5e-3"``).

    Returns None for text that is not a finite decimal number (the caller drops that key).
    """
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None
