"""Cost of one observation from provided costs or from prices × usage
(docs/reference/langfuse.md §4.5).

Both functions return USD amounts per usage key plus ``total`` as exact ``Decimal`` values;
rounding to 12 fractional digits happens when the record is written (``money.format_usd``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from processors.pricing.money import parse_usd

__all__ = ["computed_cost", "provided_cost"]

_ZERO = Decimal(0)
_INPUT_OUTPUT = frozenset({"input", "output"})


def provided_cost(provided: Mapping[str, str]) -> dict[str, Decimal] | None:
    """Costs the client sent, used verbatim (Langfuse: provided cost wins over computed cost).

    Args:
        provided: usage key -> USD decimal string (``provided_cost_details``).

    Returns:
        usage key -> USD; ``total`` is the provided total, else ``input`` + ``output`` when those
        are the only keys, else absent (Langfuse ``IngestionService.calculateUsageCosts``); None
        when no value parses (then the cost is computed from prices instead). Keys whose value
        is not a finite decimal are dropped.
    """
    costs: dict[str, Decimal] = {}
    for key in provided:  # not .items(): a protobuf map's items view is Python-level
        value = parse_usd(provided[key])
        if value is not None:
            costs[key] = value
    if not costs:
        return None
    if "total" not in costs and costs.keys() <= _INPUT_OUTPUT:
        costs["total"] = sum(costs.values(), _ZERO)
    return costs


def computed_cost(
    usage: Mapping[str, int], prices: Mapping[str, Decimal]
) -> dict[str, Decimal] | None:
    """Cost per usage key = price (USD per unit) × units; keys without a price cost nothing.

    Args:
        usage: usage key -> units (tokens), including ``total``.
        prices: usage key -> USD per unit, from the matched model and tier.

    Returns:
        usage key -> USD for every priced key present in ``usage``, plus ``total``: the price of
        ``total`` × total units when the model prices ``total`` (e.g. embeddings), else the sum
        of the computed entries. None when no usage key has a price.
    """
    costs: dict[str, Decimal] = {}
    for key, units in usage.items():
        if key != "total":
            price = prices.get(key)
            if price is not None:
                costs[key] = price * units
    total_price = prices.get("total")
    total_units = usage.get("total")
    if total_price is not None and total_units is not None:
        costs["total"] = total_price * total_units
    elif costs:
        costs["total"] = sum(costs.values(), _ZERO)
    return costs or None
