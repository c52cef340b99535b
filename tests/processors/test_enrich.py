"""Enricher with the real genai-prices catalog: usage, model match, cost
(docs/reference/langfuse.md §4.4-4.6)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from processors.enrich import Enricher
from processors.pricing.sources import MatchedPrice
from processors.pricing.tiers import AttributeCondition, PricingTier, select_pricing_tier
from storage.records import ObservationRecord
from tests.support.fakes import PricesFrom

AT = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)  # conftest's default observation time
RecordFactory = Callable[..., ObservationRecord]


def costs(record: ObservationRecord) -> dict[str, Decimal]:
    return {key: Decimal(value) for key, value in record.cost_details.items()}


def catalog_total(
    usage: Usage,
    model: str,
    provider: str,
    at: datetime = AT,
    price_context: Mapping[str, str] | None = None,
) -> Decimal:
    """genai-prices' own total for the same usage, the reference our per-key costs must sum to."""
    return calc_price(
        usage,
        model_ref=model,
        provider_id=provider,
        genai_request_timestamp=at,
        price_context=price_context,
    ).total_price


def test_gpt4o_matches_genai_prices(enricher: Enricher, make_record: RecordFactory) -> None:
    record = make_record("gpt-4o", {"input": 1000, "output": 200})

    stats = enricher.enrich([record])

    assert dict(record.usage_details) == {"input": 1000, "output": 200, "total": 1200}
    assert costs(record) == {
        "input": Decimal("0.0025"),
        "output": Decimal("0.002"),
        "total": Decimal("0.0045"),
    }
    assert Decimal(record.total_cost) == catalog_total(
        Usage(input_tokens=1000, output_tokens=200), "gpt-4o", "openai"
    )
    assert record.total_cost == "0.0045"
    assert record.internal_model_id == "genai-prices:openai:gpt-4o"
    assert not record.HasField("usage_pricing_tier_id")
    assert not record.usage_estimated
    assert stats.priced == 1 and stats.unpriced == 0
    assert stats.total_cost == Decimal("0.0045")
    assert stats.tokens == {
        ("reported", "input"): 1000,
        ("reported", "output"): 200,
        ("reported", "total"): 1200,
    }


def test_cached_tokens_priced_at_cache_read_price(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    record = make_record(
        "gpt-4o-2024-08-06", {"input": 900, "input_cached_tokens": 100, "output": 200}
    )

    enricher.enrich([record])

    assert costs(record) == {
        "input": Decimal("0.00225"),
        "input_cached_tokens": Decimal("0.000125"),
        "output": Decimal("0.002"),
        "total": Decimal("0.004375"),
    }
    expected = catalog_total(
        Usage(input_tokens=1000, cache_read_tokens=100, output_tokens=200), "gpt-4o", "openai"
    )
    assert Decimal(record.total_cost) == expected == Decimal("0.004375")


def test_provided_cost_wins(enricher: Enricher, make_record: RecordFactory) -> None:
    record = make_record(
        "gpt-4o",
        {"input": 1000, "output": 200},
        {"input": "0.01", "output": "0.02", "total": "0.05"},
    )

    stats = enricher.enrich([record])

    assert costs(record) == {
        "input": Decimal("0.01"),
        "output": Decimal("0.02"),
        "total": Decimal("0.05"),
    }
    assert record.total_cost == "0.05"
    assert record.internal_model_id == "genai-prices:openai:gpt-4o"  # the model still matches
    assert dict(record.usage_details) == {"input": 1000, "output": 200, "total": 1200}
    assert stats.cost_provided == 1 and stats.priced == 0


def test_provided_input_and_output_cost_without_total_get_their_sum(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    record = make_record("unknown-model", {}, {"input": "0.01", "output": "2.5e-3"})
    only_input = make_record("unknown-model", {}, {"input": "0.01"})

    stats = enricher.enrich([record, only_input])

    assert costs(record) == {
        "input": Decimal("0.01"),
        "output": Decimal("0.0025"),
        "total": Decimal("0.0125"),
    }
    assert record.cost_details["output"] == "0.0025"  # plain decimal, no exponent
    assert record.total_cost == "0.0125"
    assert only_input.total_cost == "0.01"
    assert stats.cost_provided == 2 and stats.unpriced == 0


def test_provided_cost_with_other_keys_and_no_total_has_no_total(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    # Langfuse IngestionService.calculateUsageCosts: total only when sent, or input + output
    # when those are the only keys
    record = make_record(
        "unknown-model", {}, {"input": "0.01", "output": "2.5e-3", "web_search": "0.1"}
    )

    stats = enricher.enrich([record])

    assert costs(record) == {
        "input": Decimal("0.01"),
        "output": Decimal("0.0025"),
        "web_search": Decimal("0.1"),
    }
    assert not record.HasField("total_cost")
    assert stats.cost_provided == 1 and stats.total_cost == 0


def test_unknown_model_is_unpriced(enricher: Enricher, make_record: RecordFactory) -> None:
    record = make_record("my-private-llm-v3", {"input": 10, "output": 5})

    stats = enricher.enrich([record])

    assert dict(record.usage_details) == {"input": 10, "output": 5, "total": 15}
    assert len(record.cost_details) == 0
    assert not record.HasField("total_cost")
    assert not record.HasField("internal_model_id")
    assert stats.unpriced == 1 and stats.priced == 0 and stats.total_cost == 0


def test_record_without_model_gets_total_but_no_cost(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    record = make_record(None, {"input": 3, "output": 4, "total": 99})

    stats = enricher.enrich([record])

    assert dict(record.usage_details) == {"input": 3, "output": 4, "total": 99}  # total kept
    assert len(record.cost_details) == 0
    assert stats.with_model == 0 and stats.unpriced == 0


@pytest.mark.parametrize(
    "usage", [{"input": 1000}, {"total": 1000}, {"input": 1000, "total": 1000}]
)
def test_embedding_priced_on_total(
    enricher: Enricher, make_record: RecordFactory, usage: Mapping[str, int]
) -> None:
    """genai-prices prices embeddings on input tokens; the total alone (Vercel AI) is priced too."""
    record = make_record("text-embedding-3-small", usage)

    enricher.enrich([record])

    expected = catalog_total(Usage(input_tokens=1000), "text-embedding-3-small", "openai")
    assert expected == Decimal("0.00002")
    assert Decimal(record.total_cost) == expected
    assert record.internal_model_id == "genai-prices:openai:text-embedding-3-small"
    if "input" in usage:
        assert Decimal(record.cost_details["input"]) == Decimal("0.00002")


def test_claude_cache_buckets(enricher: Enricher, make_record: RecordFactory) -> None:
    usage = {
        "input": 1000,
        "input_cached_tokens": 2000,
        "input_cache_creation": 500,
        "input_cache_creation_1h": 100,
        "output": 300,
    }
    record = make_record("claude-3-5-sonnet-20241022", usage)

    enricher.enrich([record])

    assert costs(record) == {
        "input": Decimal("0.003"),
        "input_cached_tokens": Decimal("0.0006"),
        "input_cache_creation": Decimal("0.001875"),
        "input_cache_creation_1h": Decimal("0.0006"),
        "output": Decimal("0.0045"),
        "total": Decimal("0.010575"),
    }
    expected = catalog_total(
        Usage(
            input_tokens=3600,
            cache_read_tokens=2000,
            cache_write_tokens=600,
            cache_write_1h_tokens=100,
            output_tokens=300,
        ),
        "claude-3-5-sonnet-20241022",
        "anthropic",
    )
    assert Decimal(record.total_cost) == expected
    assert record.internal_model_id == "genai-prices:anthropic:claude-3-5-sonnet"


@pytest.mark.parametrize(
    ("cached", "tier_name"),
    [(40_000, None), (60_000, "input_tokens>200000")],
)
def test_claude_tier_threshold_counts_cache_reads_as_input(
    enricher: Enricher, make_record: RecordFactory, cached: int, tier_name: str | None
) -> None:
    """genai-prices' tier threshold counts cache reads as input; our ``input`` excludes them."""
    record = make_record(
        "anthropic/claude-sonnet-4-5",
        {"input": 150_000, "input_cached_tokens": cached, "output": 1000},
    )

    enricher.enrich([record])

    expected = catalog_total(
        Usage(input_tokens=150_000 + cached, cache_read_tokens=cached, output_tokens=1000),
        "claude-sonnet-4-5",
        "anthropic",
    )
    assert Decimal(record.total_cost) == expected
    if tier_name is None:
        assert costs(record)["input"] == Decimal("0.45")  # $3/MTok
        assert not record.HasField("usage_pricing_tier_name")
    else:
        assert costs(record)["input"] == Decimal("0.9")  # $6/MTok above 200k
        assert record.usage_pricing_tier_name == tier_name
        model_id = "genai-prices:anthropic:claude-sonnet-4-5"
        assert record.usage_pricing_tier_id == f"{model_id}#{tier_name}"


def test_gemini_audio_input_and_tiers(enricher: Enricher, make_record: RecordFactory) -> None:
    flash = make_record(
        "gemini-2.0-flash", {"input": 1000, "input_audio_tokens": 2000, "output": 100}
    )
    pro = make_record("models/gemini-1.5-pro", {"input": 100_000, "output": 10_000})
    pro_long = make_record(
        "google/gemini-1.5-pro",
        {
            "input": 150_000,
            "input_cached_tokens": 0,
            "input_audio_tokens": 60_000,
            "output": 10_000,
        },
    )

    enricher.enrich([flash, pro, pro_long])

    assert costs(flash) == {
        "input": Decimal("0.0001"),
        "input_audio_tokens": Decimal("0.0014"),
        "output": Decimal("0.00004"),
        "total": Decimal("0.00154"),
    }
    assert Decimal(flash.total_cost) == catalog_total(
        Usage(input_tokens=3000, input_audio_tokens=2000, output_tokens=100),
        "gemini-2.0-flash",
        "google",
    )
    assert Decimal(pro.total_cost) == catalog_total(
        Usage(input_tokens=100_000, output_tokens=10_000), "gemini-1.5-pro", "google"
    )
    assert Decimal(pro.total_cost) == Decimal("0.175")  # $1.25 / $5 per MTok up to 128k
    assert Decimal(pro_long.total_cost) == catalog_total(
        Usage(input_tokens=210_000, output_tokens=10_000), "gemini-1.5-pro", "google"
    )
    assert Decimal(pro_long.total_cost) == Decimal("0.625")  # $2.5 / $10 above 128k
    assert pro_long.usage_pricing_tier_name == "input_tokens>128000"


def test_reasoning_tokens_billed_at_output_price(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    record = make_record("o3", {"input": 1000, "output": 500, "output_reasoning_tokens": 1500})

    enricher.enrich([record])

    assert costs(record) == {
        "input": Decimal("0.002"),
        "output": Decimal("0.004"),
        "output_reasoning_tokens": Decimal("0.012"),
        "total": Decimal("0.018"),
    }
    assert Decimal(record.total_cost) == catalog_total(
        Usage(input_tokens=1000, output_tokens=2000), "o3", "openai"
    )


def test_price_valid_at_observation_time(enricher: Enricher, make_record: RecordFactory) -> None:
    """o3's price dropped on 2025-06-10 (genai-prices ConditionalPrice with a start date)."""
    before = datetime(2025, 6, 9, 23, 59, tzinfo=UTC)
    after = datetime(2025, 6, 10, 0, 0, tzinfo=UTC)
    old = make_record("o3", {"input": 1_000_000}, at=before)
    new = make_record("o3", {"input": 1_000_000}, at=after)

    enricher.enrich([old, new])

    assert old.total_cost == "10"
    assert new.total_cost == "2"
    reference = catalog_total(Usage(input_tokens=1_000_000), "o3", "openai", before)
    assert Decimal(old.total_cost) == reference


def test_service_tier_price_variant(enricher: Enricher, make_record: RecordFactory) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)  # after the variants' start date (2026-10-12)
    usage = {"input": 1000, "output": 200}
    priority = make_record("gpt-4o", usage, at=at, model_parameters='{"service_tier": "priority"}')
    default = make_record("gpt-4o", usage, at=at, model_parameters='{"service_tier": "default"}')
    plain = make_record("gpt-4o", usage, at=at, model_parameters="not json")

    enricher.enrich([priority, default, plain])

    expected = catalog_total(
        Usage(input_tokens=1000, output_tokens=200),
        "gpt-4o",
        "openai",
        at,
        price_context={"service_tier": "priority"},
    )
    assert Decimal(priority.total_cost) == expected == Decimal("0.00765")
    assert priority.usage_pricing_tier_name == "service_tier=priority"
    assert default.total_cost == plain.total_cost == "0.0045"
    assert not default.HasField("usage_pricing_tier_name")


def test_enrich_is_idempotent(enricher: Enricher, make_record: RecordFactory) -> None:
    record = make_record("gpt-4o", {"input": 1000, "output": 200})
    enricher.enrich([record])
    first = record.SerializeToString(deterministic=True)

    enricher.enrich([record])

    assert record.SerializeToString(deterministic=True) == first


def test_one_bad_record_does_not_stop_the_batch(make_record: RecordFactory) -> None:
    def flaky_prices(
        project_id: str,
        model: str,
        usage: Mapping[str, int],
        model_parameters: Mapping[str, object],
        metadata: Mapping[str, object] | None,
    ) -> MatchedPrice | None:
        if model == "boom":
            raise RuntimeError("price store unavailable")
        return MatchedPrice("custom:1", model, None, None, {"input": Decimal("0.000001")})

    good = make_record("fine", {"input": 10})
    bad = make_record("boom", {"input": 10})

    stats = Enricher(PricesFrom(flaky_prices), None).enrich([bad, good])

    assert stats.failed == 1 and stats.priced == 1
    assert len(bad.cost_details) == 0 and not bad.HasField("total_cost")
    assert dict(bad.usage_details) == {"input": 10, "total": 10}
    assert good.cost_details["total"] == "0.00001"


def test_cost_rounded_to_12_digits(make_record: RecordFactory) -> None:
    def tiny_prices(
        project_id: str,
        model: str,
        usage: Mapping[str, int],
        model_parameters: Mapping[str, object],
        metadata: Mapping[str, object] | None,
    ) -> MatchedPrice | None:
        return MatchedPrice("custom:2", model, None, None, {"input": Decimal("1.23456789e-12")})

    record = make_record("tiny", {"input": 3})

    Enricher(PricesFrom(tiny_prices), None).enrich([record])

    assert record.cost_details["input"] == "0.000000000004"  # 3.70370367e-12, half-up
    assert record.total_cost == "0.000000000004"


def test_tier_conditions_see_model_parameters_and_metadata(make_record: RecordFactory) -> None:
    """A custom-model source gets the record's JSON attributes decoded
    (docs/reference/langfuse.md §4.1 tiers)."""
    tiers = [
        PricingTier("std", "Standard", True, 0, (), {"input": Decimal("1e-6")}),
        PricingTier(
            "ent",
            "Enterprise fast",
            False,
            1,
            (
                AttributeCondition("metadata", "plan", ("enterprise",)),
                AttributeCondition("model_parameters", "service_tier", ("priority",)),
            ),
            {"input": Decimal("3e-6")},
        ),
    ]

    def tiered_model(
        project_id: str,
        model: str,
        usage: Mapping[str, int],
        model_parameters: Mapping[str, object],
        metadata: Mapping[str, object] | None,
    ) -> MatchedPrice | None:
        tier = select_pricing_tier(tiers, usage, model_parameters, metadata)
        assert tier is not None
        return MatchedPrice("m-1", model, tier.id, tier.name, tier.prices)

    matching = make_record(
        "my-model",
        {"input": 1000},
        model_parameters='{"service_tier": "priority", "temperature": 0}',
        metadata={"plan": '"enterprise"'},
    )
    other = make_record("my-model", {"input": 1000}, metadata={"plan": '"free"'})

    Enricher(PricesFrom(tiered_model), None).enrich([matching, other])

    assert (matching.usage_pricing_tier_id, matching.usage_pricing_tier_name) == (
        "ent",
        "Enterprise fast",
    )
    assert matching.total_cost == "0.003"
    assert other.usage_pricing_tier_name == "Standard" and other.total_cost == "0.001"
