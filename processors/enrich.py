"""Enrichment of observation records: usage, token estimation, model match and cost.

For each ``ObservationRecord`` (records.proto) the enrichment fields are (re)computed in place
with Langfuse's semantics (docs/reference/langfuse.md §4.4 usage, §4.5 cost, §4.6 precision):

1. ``usage_details``: provided usage + ``total`` (Σ of the values) when absent; else, for a record
   with a model name, no provided cost and level != ERROR, a tokenizer estimate
   ``{input, output, total}`` with ``usage_estimated`` = True (``usage.estimate_usage``).
2. Model match (any record with ``provided_model_name``): ``internal_model_id`` and the pricing
   tier fields from the ``PriceSource``.
3. ``cost_details``: provided costs verbatim (``total`` = provided total, or input + output when
   those are the only keys, else none: ``pricing.cost.provided_cost``); else price × units per
   priced usage key plus ``total`` (``pricing.cost.computed_cost``). USD, 12 fractional digits,
   plain decimal strings. ``total_cost`` = ``cost_details["total"]`` (unset without a total).

One failing record is logged and left without cost; ``enrich`` never raises for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from processors.attributes import JsonObjectView, JsonValuesView
from processors.pricing.catalog import CatalogPriceSource
from processors.pricing.cost import computed_cost, provided_cost
from processors.pricing.money import format_usd
from processors.pricing.sources import PriceQuery, PriceSource
from processors.tokens import TiktokenCounter, TokenCounter
from processors.usage import estimate_usage, usage_with_total
from storage.records import ObservationRecord

__all__ = ["EnrichStats", "Enricher", "default_enricher", "enrichment_stats", "estimates_usage"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EnrichStats:
    """What one or more ``Enricher.enrich`` calls did (for metrics and tests).

    Attributes:
        records: records seen.
        with_model: records with a provided model name.
        priced: records whose cost was computed from a matched price.
        cost_provided: records whose cost came from the client.
        unpriced: records with a model name but no matched price and no provided cost.
        estimated: records whose usage was estimated with a tokenizer.
        failed: records whose enrichment raised (logged, left without cost).
        tokens: (source, usage key) -> tokens, source ``reported`` or ``estimated``; usage keys
            are client-chosen strings, so bucket them before using them as metric labels.
        total_cost: Σ ``total_cost`` of the records, USD.
    """

    records: int = 0
    with_model: int = 0
    priced: int = 0
    cost_provided: int = 0
    unpriced: int = 0
    estimated: int = 0
    failed: int = 0
    tokens: dict[tuple[str, str], int] = field(default_factory=dict)
    total_cost: Decimal = field(default_factory=Decimal)

    def add(self, other: EnrichStats) -> None:
        """Accumulate ``other`` into this object."""
        self.records += other.records
        self.with_model += other.with_model
        self.priced += other.priced
        self.cost_provided += other.cost_provided
        self.unpriced += other.unpriced
        self.estimated += other.estimated
        self.failed += other.failed
        for key, count in other.tokens.items():
            self.tokens[key] = self.tokens.get(key, 0) + count
        self.total_cost += other.total_cost


def estimates_usage(record: ObservationRecord) -> bool:
    """True when enrichment estimates the usage of ``record`` from its input/output (step 1 of
    the module docstring: a model name, no provided usage or cost, level not ERROR), the only
    case in which input/output change the enrichment."""
    return (
        not record.provided_usage_details
        and not record.provided_cost_details
        and record.level != "ERROR"
        and bool(record.provided_model_name.strip())
    )


def enrichment_stats(records: Sequence[ObservationRecord]) -> EnrichStats:
    """What ``Enricher.enrich`` counted for ``records`` (already enriched), read back from their
    enrichment fields: ``records``, ``tokens`` (``estimated`` when ``usage_estimated``),
    ``total_cost`` and ``unpriced`` (a model name, no matched model, no cost), the values the
    processor metrics count (``processors.telemetry.ProcessorMetrics.record_enrichment``)."""
    stats = EnrichStats(records=len(records))
    tokens = stats.tokens
    for record in records:
        usage = record.usage_details
        if usage:
            source = "estimated" if record.usage_estimated else "reported"
            for key in usage:  # not .items(): a protobuf map's items view is Python-level
                tokens[(source, key)] = tokens.get((source, key), 0) + usage[key]
        if record.HasField("total_cost"):
            stats.total_cost += Decimal(record.total_cost)
        elif (
            not record.cost_details
            and not record.HasField("internal_model_id")
            and record.provided_model_name.strip()
        ):
            stats.unpriced += 1
    return stats


class Enricher:
    """Fills the enrichment fields of observation records in place.

    Args:
        prices: where model prices come from (e.g. ``ChainedPriceSource([custom, catalog])``).
        tokens: tokenizer for usage estimation; None disables estimation.
    """

    def __init__(self, prices: PriceSource, tokens: TokenCounter | None) -> None:
        self._prices = prices
        self._tokens = tokens

    def enrich(self, records: Sequence[ObservationRecord]) -> EnrichStats:
        """Compute usage, model match and cost of every record in place; return what was done.

        Re-enriching a record recomputes its enrichment fields from the provided ones. A record
        whose enrichment raises is logged and left without cost (counted in ``failed``).
        """
        stats = EnrichStats()
        now_us = time.time_ns() // 1000
        for record in records:
            stats.records += 1
            try:
                self._enrich_one(record, stats, now_us)
            except Exception:
                stats.failed += 1
                record.cost_details.clear()
                record.ClearField("total_cost")
                log.warning(
                    "enrichment failed for observation %s (project %s, model %r)",
                    record.id,
                    record.project_id,
                    record.provided_model_name,
                    exc_info=True,
                )
        return stats

    def _enrich_one(self, record: ObservationRecord, stats: EnrichStats, now_us: int) -> None:
        record.usage_details.clear()
        record.cost_details.clear()
        record.usage_estimated = False
        record.ClearField("total_cost")
        record.ClearField("internal_model_id")
        record.ClearField("usage_pricing_tier_id")
        record.ClearField("usage_pricing_tier_name")

        model = record.provided_model_name.strip()
        provided_costs = record.provided_cost_details
        if model:
            stats.with_model += 1

        # 1. usage (docs/reference/langfuse.md §4.4)
        usage: dict[str, int] | None = None
        source = "reported"
        if provided_usage := record.provided_usage_details:
            usage = usage_with_total(provided_usage)
        elif self._tokens and estimates_usage(record):
            usage = self._estimate(record, model, self._tokens)
            if usage is not None:
                source = "estimated"
                record.usage_estimated = True
                stats.estimated += 1
        if usage:
            usage_details = record.usage_details
            tokens = stats.tokens
            for key, units in usage.items():
                usage_details[key] = units  # (a protobuf map's update() is a Python-level loop)
                tokens[(source, key)] = tokens.get((source, key), 0) + units

        # 2. model match (§4.3)
        matched = None
        if model:
            matched = self._prices.lookup(
                PriceQuery(
                    record.project_id,
                    model,
                    record.start_time_us or now_us,
                    usage or {},
                    JsonObjectView(record.model_parameters),
                    JsonValuesView(record.metadata),
                )
            )
            if matched is not None:
                record.internal_model_id = matched.model_id
                if matched.tier_id is not None:
                    record.usage_pricing_tier_id = matched.tier_id
                if matched.tier_name is not None:
                    record.usage_pricing_tier_name = matched.tier_name

        # 3. cost (§4.5, §4.6)
        costs = provided_cost(provided_costs) if provided_costs else None
        if costs is not None:
            stats.cost_provided += 1
        elif matched is not None:
            if usage:
                costs = computed_cost(usage, matched.prices)
                if costs is not None:
                    stats.priced += 1
        elif model:
            stats.unpriced += 1
        if costs:
            cost_details = record.cost_details
            for key, amount in costs.items():
                cost_details[key] = format_usd(amount)
            total = cost_details.get("total")
            if total is not None:  # a provided cost without a total has none (§4.5)
                record.total_cost = total
                stats.total_cost += Decimal(total)

    @staticmethod
    def _estimate(
        record: ObservationRecord, model: str, tokens: TokenCounter
    ) -> dict[str, int] | None:
        """Tokenizer estimate; a failure leaves usage empty (never zero-filled)."""
        try:
            return estimate_usage(
                tokens,
                model,
                record.input if record.HasField("input") else None,
                record.output if record.HasField("output") else None,
            )
        except Exception:
            log.warning("token estimation failed for observation %s", record.id, exc_info=True)
            return None


def default_enricher(cache_dir: Path) -> Enricher:
    """The production wiring: genai-prices catalog prices and offline tiktoken estimation.

    ``cache_dir``: a writable folder; tiktoken's BPE files are installed in ``cache_dir/tiktoken``.
    """
    return Enricher(CatalogPriceSource(), TiktokenCounter(cache_dir / "tiktoken"))
