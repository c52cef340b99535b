"""Langfuse model-definition JSON: what is accepted, what is refused, and the output shape."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from storage.postgres.model_defs import (
    InvalidModelDefinition,
    StoredModel,
    StoredTier,
    model_json,
    parse_model_definition,
)

BASE: dict[str, Any] = {"modelName": "acme-chat", "matchPattern": "(?i)^acme-chat$"}


def test_pricing_tiers_are_parsed_with_exact_decimals() -> None:
    definition = parse_model_definition(
        {
            **BASE,
            "startDate": "2025-01-01T00:00:00Z",
            "pricingTiers": [
                {
                    "name": "Standard",
                    "isDefault": True,
                    "priority": 0,
                    "conditions": [],
                    "prices": {"input": 0.0000025, "output": Decimal("1E-5")},
                },
                {
                    "name": "Fast",
                    "priority": 1,
                    "prices": {"input": 5e-6},
                    "conditions": [
                        {
                            "source": "model_parameters",
                            "key": "service_tier",
                            "values": ["priority"],
                        }
                    ],
                },
                {
                    "name": "Large",
                    "priority": 2,
                    "prices": {"input": 6e-6},
                    "conditions": [
                        {
                            "usageDetailPattern": "input",
                            "operator": "gt",
                            "value": Decimal("200000"),
                        }
                    ],
                },
            ],
        }
    )
    assert definition.unit == "TOKENS"
    assert definition.start_date == datetime(2025, 1, 1, tzinfo=UTC)
    standard, fast, large = definition.tiers
    assert standard.prices == {"input": Decimal("0.0000025"), "output": Decimal("0.00001")}
    assert fast.conditions == (
        {
            "source": "model_parameters",
            "key": "service_tier",
            "operator": "in",
            "values": ["priority"],
        },
    )
    assert large.conditions[0]["value"] == 200000.0
    assert large.conditions[0]["caseSensitive"] is False


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"inputPrice": 1, "outputPrice": 2}, {"input": Decimal(1), "output": Decimal(2)}),
        ({"totalPrice": 0.5}, {"total": Decimal("0.5")}),
        ({"prices": {"input": 1, "output": {"price": 2}}}, {"input": 1, "output": 2}),
    ],
)
def test_flat_prices_become_one_standard_tier(extra: dict[str, Any], expected: Any) -> None:
    (tier,) = parse_model_definition({**BASE, **extra}).tiers
    assert (tier.name, tier.is_default, tier.priority, tier.conditions) == ("Standard", True, 0, ())
    assert tier.prices == expected


def test_a_model_without_prices_is_allowed() -> None:
    assert parse_model_definition(BASE).tiers == ()


DEFAULT = {
    "name": "Standard",
    "isDefault": True,
    "priority": 0,
    "conditions": [],
    "prices": {"input": 1},
}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "JSON object"),
        ({"matchPattern": "x"}, "modelName is required"),
        ({"modelName": "x"}, "matchPattern is required"),
        ({**BASE, "modelName": ""}, "non-empty"),
        ({**BASE, "modelName": "a\x00b"}, "NUL"),
        ({**BASE, "unit": "PARSECS"}, "unit must be"),
        ({**BASE, "tokenizerId": "llama"}, "tokenizerId"),
        ({**BASE, "startDate": "yesterday"}, "startDate"),
        ({**BASE, "startDate": 5}, "startDate"),
        ({**BASE, "id": "../etc"}, "id must be"),
        ({**BASE, "inputPrice": -1}, ">= 0"),
        ({**BASE, "inputPrice": "abc"}, "number"),
        ({**BASE, "inputPrice": True}, "number"),
        ({**BASE, "inputPrice": float("nan")}, "finite"),
        ({**BASE, "inputPrice": 1e300}, "< 1000000"),
        ({**BASE, "totalPrice": 1, "inputPrice": 1}, "totalPrice cannot"),
        ({**BASE, "inputPrice": 1, "pricingTiers": [DEFAULT]}, "not both"),
        ({**BASE, "pricingTiers": []}, "non-empty list"),
        ({**BASE, "pricingTiers": [{**DEFAULT, "isDefault": False, "priority": 1}]}, "exactly one"),
        ({**BASE, "pricingTiers": [DEFAULT, {**DEFAULT, "name": "x"}]}, "exactly one"),
        ({**BASE, "pricingTiers": [{**DEFAULT, "priority": 3}]}, "priority 0"),
        (
            {**BASE, "pricingTiers": [DEFAULT, {**DEFAULT, "name": "x", "isDefault": False}]},
            "priorities must be unique",
        ),
        (
            {**BASE, "pricingTiers": [DEFAULT, {**DEFAULT, "isDefault": False, "priority": 1}]},
            "names must be unique",
        ),
        ({**BASE, "pricingTiers": [{**DEFAULT, "prices": {}}]}, "at least one price"),
        (
            {
                **BASE,
                "pricingTiers": [
                    DEFAULT,
                    {
                        "name": "x",
                        "priority": 1,
                        "prices": {"a": 1},
                        "conditions": [{"usageDetailPattern": "(", "operator": "gt", "value": 1}],
                    },
                ],
            },
            "usageDetailPattern is invalid",
        ),
        (
            {
                **BASE,
                "pricingTiers": [
                    DEFAULT,
                    {
                        "name": "x",
                        "priority": 1,
                        "prices": {"a": 1},
                        "conditions": [{"source": "headers", "key": "k", "values": ["v"]}],
                    },
                ],
            },
            "source must be",
        ),
        (
            {
                **BASE,
                "pricingTiers": [
                    DEFAULT,
                    {
                        "name": "x",
                        "priority": 1,
                        "prices": {"a": 1},
                        "conditions": [
                            {"usageDetailPattern": "input", "operator": "between", "value": 1}
                        ],
                    },
                ],
            },
            "operator must be",
        ),
    ],
)
def test_invalid_definitions_are_refused_with_a_reason(raw: Any, message: str) -> None:
    with pytest.raises(InvalidModelDefinition, match=message):
        parse_model_definition(raw)


def test_model_json_has_langfuse_model_shape() -> None:
    now = datetime(2025, 5, 1, 12, tzinfo=UTC)
    model = StoredModel(
        id="m1",
        project_id=None,
        model_name="acme",
        match_pattern="acme",
        start_date=None,
        unit="TOKENS",
        tokenizer_id=None,
        tokenizer_config=None,
        created_at=now,
        updated_at=now,
        tiers=(
            StoredTier(
                "t2",
                "Fast",
                False,
                1,
                ({"source": "metadata", "key": "k", "operator": "in", "values": ["v"]},),
                {"input": Decimal("0.000005")},
            ),
            StoredTier(
                "t1",
                "Standard",
                True,
                0,
                (),
                {"input": Decimal("0.0000025"), "output": Decimal("0.00001")},
            ),
        ),
    )
    body = model_json(model)
    assert body["isLangfuseManaged"] is True
    assert body["inputPrice"] == 2.5e-6 and body["outputPrice"] == 1e-5
    assert body["totalPrice"] is None
    assert body["prices"] == {"input": {"price": 2.5e-6}, "output": {"price": 1e-5}}
    assert [t["name"] for t in body["pricingTiers"]] == ["Standard", "Fast"]
    assert body["createdAt"] == "2025-05-01T12:00:00.000Z"
