"""CatalogPriceSource model resolution, ChainedPriceSource and money formatting."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from processors.pricing.catalog import CatalogPriceSource
from processors.pricing.money import format_usd, parse_usd
from processors.pricing.sources import ChainedPriceSource, MatchedPrice, PriceQuery
from processors.pricing.tiers import PricingTier, UsageCondition, select_pricing_tier
from tests.support.fakes import PricesFrom

AT_US = 1_751_371_200_000_000  # 2025-07-01T12:00:00Z


def model_id(catalog: CatalogPriceSource, name: str) -> str | None:
    found = catalog.lookup(PriceQuery("p", name, AT_US, {"input": 1}, {}))
    return found.model_id if found else None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o", "genai-prices:openai:gpt-4o"),
        ("GPT-4o", "genai-prices:openai:gpt-4o"),
        ("  gpt-4o-2024-08-06 ", "genai-prices:openai:gpt-4o"),
        ("openai/gpt-4o", "genai-prices:openai:gpt-4o"),
        ("azure/gpt-4o", "genai-prices:azure:gpt-4o"),
        ("gpt-4o-mini", "genai-prices:openai:gpt-4o-mini"),
        ("text-embedding-3-small", "genai-prices:openai:text-embedding-3-small"),
        ("anthropic/claude-3-5-sonnet-20241022", "genai-prices:anthropic:claude-3-5-sonnet"),
        ("claude-sonnet-4-5@20250929", "genai-prices:anthropic:claude-sonnet-4-5"),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "genai-prices:aws:regional.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        ("vertex_ai/gemini-2.5-flash", "genai-prices:google:gemini-2.5-flash"),
        ("models/gemini-2.0-flash", "genai-prices:google:gemini-2.0-flash"),
        ("mistral-large-latest", "genai-prices:mistral:mistral-large"),
        ("no-such-model-xyz", None),
        ("", None),
        ("openai/", None),
    ],
)
def test_model_resolution(catalog: CatalogPriceSource, name: str, expected: str | None) -> None:
    assert model_id(catalog, name) == expected


def test_lookup_is_cached_per_model_name(catalog: CatalogPriceSource) -> None:
    first = catalog.lookup(PriceQuery("p", "gpt-4o", AT_US, {"input": 5}, {}))
    second = catalog.lookup(PriceQuery("other-project", "gpt-4o", AT_US + 1, {"output": 7}, {}))
    assert first is not None and first is second
    assert first.prices["input"] == Decimal("0.0000025")
    assert first.prices["input_cache_read"] == first.prices["cache_read_input_tokens"]
    assert first.prices["output_reasoning_tokens"] == first.prices["output"] == Decimal("0.00001")
    # Genkit's reasoning bucket and the GenAI semconv modality buckets are priced too
    assert first.prices["output_reasoning"] == first.prices["output"]
    assert first.prices["input_image_tokens"] == first.prices["input"]
    assert "total" not in first.prices  # only input-only models (embeddings) price `total`


CUSTOM_TIERS = [
    PricingTier("tier-std", "Standard", True, 0, (), {"input": Decimal("1e-6")}),
    PricingTier(
        "tier-big",
        "Big",
        False,
        1,
        (UsageCondition("input", "gt", 1000),),
        {"input": Decimal("2e-6")},
    ),
]


def custom_models(
    project_id: str,
    model: str,
    usage: Mapping[str, int],
    model_parameters: Mapping[str, object],
    metadata: Mapping[str, object] | None,
) -> MatchedPrice | None:
    """A stand-in for project custom models: one regex-matched model with Langfuse tiers."""
    if project_id != "p" or not model.startswith(("my-model", "gpt-4o")):
        return None
    tier = select_pricing_tier(CUSTOM_TIERS, usage, model_parameters, metadata)
    if tier is None:
        return None
    return MatchedPrice("custom-1", "my-model", tier.id, tier.name, tier.prices)


def test_chained_source_tries_custom_models_first(catalog: CatalogPriceSource) -> None:
    chain = ChainedPriceSource([PricesFrom(custom_models), catalog])

    custom = chain.lookup(PriceQuery("p", "gpt-4o", AT_US, {"input": 2000}, {}))
    other_project = chain.lookup(PriceQuery("q", "gpt-4o", AT_US, {"input": 2000}, {}))
    unknown = chain.lookup(PriceQuery("p", "nothing-like-this", AT_US, {}, {}))

    assert custom is not None and custom.model_id == "custom-1" and custom.tier_name == "Big"
    assert other_project is not None and other_project.model_id == "genai-prices:openai:gpt-4o"
    assert unknown is None


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("2.5E-3"), "0.0025"),
        (Decimal("0"), "0"),
        (Decimal("1E-13"), "0"),
        (Decimal("-1E-13"), "0"),
        (Decimal("5E-13"), "0.000000000001"),  # half-up at the 12th digit
        (Decimal("123456.123456789012345"), "123456.123456789012"),
        (Decimal("10"), "10"),
        (Decimal("1E+2"), "100"),
    ],
)
def test_format_usd(amount: Decimal, text: str) -> None:
    assert format_usd(amount) == text


def test_parse_usd() -> None:
    assert parse_usd("1e-5") == Decimal("0.00001")
    assert parse_usd(" 0.25 ") == Decimal("0.25")
    assert parse_usd("abc") is None
    assert parse_usd("NaN") is None
    assert parse_usd("Infinity") is None
