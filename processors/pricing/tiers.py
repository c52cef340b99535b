"""Langfuse pricing-tier selection for model definitions with tiers
(docs/reference/langfuse.md §4.1).

Pure functions over already-loaded tiers, to be reused by a PostgreSQL source of project custom
models. Semantics follow Langfuse's ``pricing-tiers/matcher.ts``:

- a usage condition sums the values of all usage keys matching ``usage_detail_pattern`` (a regex,
  searched anywhere in the key, case-insensitive unless ``case_sensitive``) and compares the sum
  with ``value`` using ``operator``; an invalid regex makes the condition false;
- an attribute condition holds when the observation's ``model_parameters`` or ``metadata`` has the
  exact top-level ``key`` and its value is one of ``values`` (a missing value counts as ``""``;
  only string values can match, as in Langfuse);
- non-default tiers are tried by ascending ``priority``; all conditions of a tier must hold and a
  tier without conditions never matches; the first match wins, else the default tier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, TypeAlias, cast

__all__ = [
    "AttributeCondition",
    "PricingTier",
    "TierCondition",
    "UsageCondition",
    "parse_condition",
    "select_pricing_tier",
]

UsageOperator: TypeAlias = Literal["gt", "gte", "lt", "lte", "eq", "neq"]
_OPERATORS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte", "eq", "neq"})


@dataclass(frozen=True, slots=True)
class UsageCondition:
    """Σ usage values of keys matching ``usage_detail_pattern`` <operator> ``value`` (tokens)."""

    usage_detail_pattern: str
    operator: UsageOperator
    value: float
    case_sensitive: bool = False
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        try:
            regex: re.Pattern[str] | None = re.compile(self.usage_detail_pattern, flags)
        except re.error:
            regex = None  # Langfuse: a condition that fails to evaluate is false
        object.__setattr__(self, "_regex", regex)

    def holds(self, usage: Mapping[str, int]) -> bool:
        """Whether the summed usage satisfies the comparison."""
        if self._regex is None:
            return False
        search = self._regex.search
        total = sum(units for key, units in usage.items() if search(key))
        op, value = self.operator, self.value
        if op == "gt":
            return total > value
        if op == "gte":
            return total >= value
        if op == "lt":
            return total < value
        if op == "lte":
            return total <= value
        if op == "eq":
            return total == value
        if op == "neq":
            return total != value
        return False


@dataclass(frozen=True, slots=True)
class AttributeCondition:
    """``source[key]`` is one of ``values``; ``source`` is ``model_parameters`` or ``metadata``."""

    source: Literal["model_parameters", "metadata"]
    key: str
    values: tuple[str, ...]

    def holds(self, model_parameters: Mapping[str, object], metadata: Mapping[str, object]) -> bool:
        """Whether the attribute is present with one of the listed values."""
        attributes = model_parameters if self.source == "model_parameters" else metadata
        if self.key not in attributes:
            return False
        value = attributes[self.key]
        return (value if value is not None else "") in self.values


TierCondition: TypeAlias = UsageCondition | AttributeCondition


@dataclass(frozen=True, slots=True)
class PricingTier:
    """One pricing tier of a model definition (Postgres ``pricing_tiers`` + its ``prices``).

    ``prices``: usage key -> USD per unit. Exactly one tier of a model should be the default.
    """

    id: str
    name: str
    is_default: bool
    priority: int
    conditions: tuple[TierCondition, ...]
    prices: Mapping[str, Decimal]


def select_pricing_tier(
    tiers: Sequence[PricingTier],
    usage: Mapping[str, int],
    model_parameters: Mapping[str, object] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> PricingTier | None:
    """The tier whose conditions all hold, by ascending priority, else the default tier.

    Args:
        tiers: the tiers of one model definition, in any order.
        usage: usage key -> tokens of the observation (Langfuse keys).
        model_parameters: top-level model parameters of the observation.
        metadata: top-level metadata of the observation (decoded JSON values).

    Returns:
        The selected tier, or None when nothing matched and the model has no default tier.
    """
    params: Mapping[str, object] = model_parameters or {}
    meta: Mapping[str, object] = metadata or {}
    for tier in sorted((t for t in tiers if not t.is_default), key=lambda t: t.priority):
        if tier.conditions and all(
            _holds(condition, usage, params, meta) for condition in tier.conditions
        ):
            return tier
    return next((tier for tier in tiers if tier.is_default), None)


def _holds(
    condition: TierCondition,
    usage: Mapping[str, int],
    model_parameters: Mapping[str, object],
    metadata: Mapping[str, object],
) -> bool:
    if isinstance(condition, UsageCondition):
        return condition.holds(usage)
    return condition.holds(model_parameters, metadata)


def parse_condition(raw: Mapping[str, object]) -> TierCondition:
    """Build a condition from Langfuse's JSONB shape (``pricing_tiers.conditions[i]``).

    Shapes: ``{usageDetailPattern, operator, value, caseSensitive?}`` and
    ``{source: "model_parameters"|"metadata", key, operator: "in", values: [str, ...]}``.

    Raises:
        ValueError: the object matches neither shape.
    """
    if "source" in raw:
        source, key, values = raw.get("source"), raw.get("key"), raw.get("values")
        if source not in ("model_parameters", "metadata"):
            raise ValueError(f"unknown condition source {source!r}")
        operator = raw.get("operator", "in")
        if operator != "in":
            raise ValueError(f"attribute conditions need operator 'in', got {operator!r}")
        if not isinstance(key, str) or not isinstance(values, list):
            raise ValueError("attribute condition needs a string 'key' and a list 'values'")
        return AttributeCondition(source, key, tuple(str(v) for v in values))
    pattern, operator, value = raw.get("usageDetailPattern"), raw.get("operator"), raw.get("value")
    if not isinstance(pattern, str) or operator not in _OPERATORS:
        raise ValueError(f"invalid usage condition {dict(raw)!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"usage condition value must be a number, got {value!r}")
    return UsageCondition(
        pattern,
        cast(UsageOperator, operator),
        float(value),
        bool(raw.get("caseSensitive", False)),
    )
