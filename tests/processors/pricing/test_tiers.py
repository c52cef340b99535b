"""Langfuse pricing-tier selection (docs/reference/langfuse.md §4.1,
``pricing-tiers/matcher.ts``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from processors.pricing.tiers import (
    AttributeCondition,
    PricingTier,
    TierCondition,
    UsageCondition,
    parse_condition,
    select_pricing_tier,
)

STANDARD = PricingTier("t-std", "Standard", True, 0, (), {"input": Decimal("1.25e-6")})
LARGE_CONTEXT = PricingTier(
    "t-large",
    "Large Context",
    False,
    1,
    (UsageCondition("(input|prompt|cached)", "gt", 200_000),),
    {"input": Decimal("2.5e-6")},
)
FAST = PricingTier(
    "t-fast",
    "Fast mode",
    False,
    2,
    (AttributeCondition("model_parameters", "service_tier", ("fast", "priority")),),
    {"input": Decimal("5e-6")},
)
TIERS = [FAST, STANDARD, LARGE_CONTEXT]  # deliberately not in priority order


def tier_name(
    usage: dict[str, int],
    params: dict[str, object] | None = None,
    metadata: dict[str, object] | None = None,
    tiers: list[PricingTier] = TIERS,
) -> str | None:
    tier = select_pricing_tier(tiers, usage, params, metadata)
    return tier.name if tier else None


def test_usage_condition_sums_all_matching_keys() -> None:
    assert tier_name({"input": 150_000, "output": 90_000}) == "Standard"
    assert tier_name({"input": 150_000, "input_cached_tokens": 50_001}) == "Large Context"
    assert tier_name({"input": 100_000, "prompt_audio": 100_000}) == "Standard"  # not > 200k
    assert tier_name({"INPUT": 200_001}) == "Large Context"  # case-insensitive by default


def test_case_sensitive_pattern() -> None:
    tier = PricingTier("t", "Upper", False, 1, (UsageCondition("^INPUT$", "gte", 1, True),), {})
    assert tier_name({"input": 5}, tiers=[tier, STANDARD]) == "Standard"
    assert tier_name({"INPUT": 5}, tiers=[tier, STANDARD]) == "Upper"


def test_priority_order_first_match_wins() -> None:
    usage = {"input": 300_000}
    assert tier_name(usage, {"service_tier": "priority"}) == "Large Context"  # priority 1 < 2
    reordered = [
        PricingTier(FAST.id, FAST.name, False, 0, FAST.conditions, FAST.prices),
        STANDARD,
        LARGE_CONTEXT,
    ]
    assert tier_name(usage, {"service_tier": "priority"}, tiers=reordered) == "Fast mode"


def test_attribute_condition_in_values() -> None:
    assert tier_name({"input": 10}, {"service_tier": "fast"}) == "Fast mode"
    assert tier_name({"input": 10}, {"service_tier": "default"}) == "Standard"
    assert tier_name({"input": 10}, {"tier": "fast"}) == "Standard"  # exact top-level key only
    assert tier_name({"input": 10}, {"service_tier": 1}) == "Standard"  # only strings match
    assert tier_name({"input": 10}, metadata={"service_tier": "fast"}) == "Standard"  # wrong source


def test_missing_value_counts_as_empty_string() -> None:
    blank = PricingTier(
        "t", "Blank", False, 1, (AttributeCondition("metadata", "region", ("",)),), {}
    )
    assert tier_name({}, metadata={"region": None}, tiers=[blank, STANDARD]) == "Blank"
    assert tier_name({}, metadata={}, tiers=[blank, STANDARD]) == "Standard"  # key absent


def test_all_conditions_must_hold() -> None:
    both = PricingTier(
        "t",
        "Both",
        False,
        1,
        (
            UsageCondition("^output", "lt", 100),
            AttributeCondition("metadata", "plan", ("enterprise",)),
        ),
        {},
    )
    tiers = [both, STANDARD]
    assert tier_name({"output": 50}, metadata={"plan": "enterprise"}, tiers=tiers) == "Both"
    assert tier_name({"output": 150}, metadata={"plan": "enterprise"}, tiers=tiers) == "Standard"
    assert tier_name({"output": 50}, metadata={"plan": "free"}, tiers=tiers) == "Standard"


def test_tier_without_conditions_never_matches_and_default_fallback() -> None:
    empty = PricingTier("t", "Empty", False, 0, (), {})
    assert tier_name({"input": 1}, tiers=[empty, STANDARD]) == "Standard"
    assert tier_name({"input": 1}, tiers=[empty]) is None
    assert tier_name({"input": 1}, tiers=[]) is None


def test_invalid_regex_makes_condition_false() -> None:
    broken = PricingTier("t", "Broken", False, 1, (UsageCondition("(", "gte", 0),), {})
    assert tier_name({"input": 1}, tiers=[broken, STANDARD]) == "Standard"


@pytest.mark.parametrize(
    ("operator", "holds_at_100"),
    [("gt", False), ("gte", True), ("lt", False), ("lte", True), ("eq", True), ("neq", False)],
)
def test_operators(operator: str, holds_at_100: bool) -> None:
    condition = parse_condition({"usageDetailPattern": "input", "operator": operator, "value": 100})
    assert isinstance(condition, UsageCondition)
    assert condition.holds({"input": 60, "input_cached_tokens": 40}) is holds_at_100


def test_parse_condition_shapes() -> None:
    assert parse_condition(
        {"usageDetailPattern": "^in", "operator": "gt", "value": 5, "caseSensitive": True}
    ) == UsageCondition("^in", "gt", 5.0, True)
    assert parse_condition(
        {"source": "model_parameters", "key": "service_tier", "operator": "in",
         "values": ["fast", "priority"]}
    ) == AttributeCondition("model_parameters", "service_tier", ("fast", "priority"))  # fmt: skip


@pytest.mark.parametrize(
    "raw",
    [
        {"usageDetailPattern": "x", "operator": "between", "value": 1},
        {"usageDetailPattern": "x", "operator": "gt", "value": "1"},
        {"usageDetailPattern": "x", "operator": "gt", "value": True},
        {"operator": "gt", "value": 1},
        {"source": "headers", "key": "k", "operator": "in", "values": ["a"]},
        {"source": "metadata", "key": "k", "operator": "eq", "values": ["a"]},
        {"source": "metadata", "key": "k", "operator": "in", "values": "a"},
    ],
)
def test_parse_condition_rejects_bad_shapes(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse_condition(raw)


def test_conditions_are_hashable_values() -> None:
    conditions: set[TierCondition] = {
        UsageCondition("input", "gt", 1),
        UsageCondition("input", "gt", 1),
        AttributeCondition("metadata", "k", ("v",)),
    }
    assert len(conditions) == 2
