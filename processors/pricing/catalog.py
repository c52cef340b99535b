"""``CatalogPriceSource``: prices from the genai-prices package's bundled data snapshot.

No network: the bundled snapshot only (``genai_prices.UpdatePrices`` is never started). Per
lookup (docs/reference/langfuse.md §4.3-4.5 semantics, genai-prices price selection):

1. model name -> catalog model (``catalog_index.CatalogIndex``), cached per name (LRU, also
   caching misses);
2. the price set valid at the observation time (genai-prices ``ConditionalPrice``: start dates,
   time-of-day windows; the last active one wins, else the first);
3. request-specific price variants selected by string model parameters (``service_tier``:
   ``priority``/``flex``..., ``processing``: ``batch``), first matching variant per price key;
4. per-token rates of Langfuse usage keys (``catalog_units``), cached per price set and variant;
5. tiered prices resolved by the observation's total input tokens (input + cache buckets).

The result's ``tier_name`` names what deviated from the standard price, e.g.
``service_tier=priority`` or ``input_tokens>200000``; both tier fields are None otherwise.

Steps 2 and 3 are cached (lookups run once per generation record): the price set and the
variants whose time constraint holds stay the same between two consecutive constraint boundaries
(start dates at UTC midnight, time-of-day window edges), so each model keeps the few such time
windows it saw last, each with the variants chosen per ``model_parameters`` text.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    PriceVariant,
    Provider,
    StartDateConstraint,
    TimeOfDateConstraint,
)

from processors.attributes import JsonObjectView
from processors.pricing.catalog_index import CatalogIndex
from processors.pricing.catalog_units import INPUT_KEYS, Rate, langfuse_rates
from processors.pricing.sources import MatchedPrice, PriceQuery
from storage.records import MAX_TIME_US, MIN_TIME_US

__all__ = ["CatalogPriceSource"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000
_RECENT_WINDOWS = 4
"""Time windows remembered per model (records of a batch rarely straddle more boundaries)."""
_CHOICES_PER_WINDOW = 256
"""``model_parameters`` texts remembered per window (the cache is emptied when full)."""


@dataclass(slots=True)
class _RateTable:
    """Rates of one price set (+ variants) of one model, with the results built from them."""

    model_id: str
    model_name: str
    labels: tuple[str, ...]
    rates: dict[str, Rate]
    thresholds: tuple[int, ...]
    """Distinct tier starts over all rates (input tokens), ascending; empty when untiered."""
    by_level: dict[int, MatchedPrice] = field(default_factory=dict)

    def matched(self, usage: Mapping[str, int]) -> MatchedPrice:
        """The prices of the tier level reached by ``usage``'s input tokens (cached per level)."""
        level = 0
        if self.thresholds:
            input_tokens = sum(units for key, units in usage.items() if key in INPUT_KEYS)
            level = bisect.bisect_left(self.thresholds, input_tokens)
        found = self.by_level.get(level)
        if found is None:
            found = self.by_level[level] = self._build(level)
        return found

    def _build(self, level: int) -> MatchedPrice:
        # Any input count inside the level selects the same tier of every rate.
        input_tokens = self.thresholds[level - 1] + 1 if level else 0
        labels = self.labels
        if level:
            labels = (*labels, f"input_tokens>{self.thresholds[level - 1]}")
        tier_name = ", ".join(labels) if labels else None
        return MatchedPrice(
            model_id=self.model_id,
            model_name=self.model_name,
            tier_id=f"{self.model_id}#{tier_name}" if tier_name else None,
            tier_name=tier_name,
            prices={key: rate.at(input_tokens) for key, rate in self.rates.items()},
        )


@dataclass(slots=True)
class _Window:
    """A time range ``[start_us, end_us)`` in which no price or variant constraint of one model
    changes: the same price set (``schedule``) and the same time-active variants apply."""

    start_us: int
    end_us: int
    schedule: int
    active: tuple[int, ...]
    """Indexes of the variants whose constraint holds (or that have none)."""
    choices: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """``model_parameters`` JSON text -> the variants it selects."""


@dataclass(slots=True)
class _CatalogModel:
    """One resolved catalog model and the rate tables built for it so far."""

    provider: Provider
    model: ModelInfo
    model_id: str
    variants: tuple[PriceVariant, ...]
    tables: dict[tuple[int, tuple[int, ...]], _RateTable] = field(default_factory=dict)
    windows: list[_Window] = field(default_factory=list)
    """The most recently built time windows, newest first (at most ``_RECENT_WINDOWS``)."""

    def table(self, at_us: int, parameters: Mapping[str, object]) -> _RateTable:
        """The rate table for an observation at ``at_us`` with ``parameters`` (cached)."""
        if not MIN_TIME_US <= at_us <= MAX_TIME_US:
            return self.table_uncached(at_us, parameters)
        for window in self.windows:
            if window.start_us <= at_us < window.end_us:
                break
        else:
            window = self._new_window(at_us)
        chosen: tuple[int, ...] = ()
        if window.active:
            if isinstance(parameters, JsonObjectView):
                text = parameters.text
                found = window.choices.get(text)
                if found is None:
                    if len(window.choices) >= _CHOICES_PER_WINDOW:
                        window.choices.clear()
                    found = window.choices[text] = self._choose(window.active, parameters)
                chosen = found
            else:
                chosen = self._choose(window.active, parameters)
        key = (window.schedule, chosen)
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = self._build(window.schedule, chosen)
        return table

    def _choose(self, active: tuple[int, ...], parameters: Mapping[str, object]) -> tuple[int, ...]:
        if not parameters:
            return ()
        return tuple(
            index
            for index in active
            if all(parameters.get(k) == v for k, v in self.variants[index].when.items())
        )

    def _new_window(self, at_us: int) -> _Window:
        when = _EPOCH + timedelta(microseconds=at_us)
        start_us, end_us = MIN_TIME_US, MAX_TIME_US + 1
        prices = self.model.prices
        schedule = -1
        if not isinstance(prices, ModelPrice):
            schedule = 0
            for index in range(len(prices) - 1, -1, -1):
                constraint = prices[index].constraint
                if constraint is None or constraint.active(when):
                    schedule = index
                    break
            for conditional in prices:
                start_us, end_us = _narrow(conditional.constraint, at_us, start_us, end_us)
        active = []
        for index, variant in enumerate(self.variants):
            constraint = variant.constraint
            if constraint is None or constraint.active(when):
                active.append(index)
            start_us, end_us = _narrow(constraint, at_us, start_us, end_us)
        window = _Window(start_us, end_us, schedule, tuple(active))
        self.windows.insert(0, window)
        del self.windows[_RECENT_WINDOWS:]
        return window

    def table_uncached(self, at_us: int, parameters: Mapping[str, object]) -> _RateTable:
        """``table`` without the time-window cache (outside the storable time range)."""
        prices = self.model.prices
        when: datetime | None = None
        schedule = -1
        if not isinstance(prices, ModelPrice):
            when = _EPOCH + timedelta(microseconds=at_us)
            schedule = 0
            for index in range(len(prices) - 1, -1, -1):
                constraint = prices[index].constraint
                if constraint is None or constraint.active(when):
                    schedule = index
                    break
        chosen: tuple[int, ...] = ()
        if self.variants and parameters:
            when = when or _EPOCH + timedelta(microseconds=at_us)
            chosen = tuple(
                index
                for index, variant in enumerate(self.variants)
                if _variant_applies(variant, parameters, when)
            )
        key = (schedule, chosen)
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = self._build(schedule, chosen)
        return table

    def _build(self, schedule: int, chosen: tuple[int, ...]) -> _RateTable:
        prices = self.model.prices
        standard = prices if isinstance(prices, ModelPrice) else prices[schedule].prices
        merged = {
            key: value
            for key, value in vars(standard).items()
            if not key.startswith("_") and value is not None
        }
        overridden: set[str] = set()
        labels: list[str] = []
        for index in chosen:
            variant = self.variants[index]
            changed = False
            for key, value in vars(variant.prices).items():
                if value is not None and not key.startswith("_") and key not in overridden:
                    overridden.add(key)
                    merged[key] = value
                    changed = True
            if changed:
                labels.extend(f"{k}={v}" for k, v in sorted(variant.when.items()))
        rates = langfuse_rates(ModelPrice(**merged))
        thresholds = sorted({start for rate in rates.values() for start, _ in rate.tiers})
        return _RateTable(
            model_id=self.model_id,
            model_name=self.model.id,
            labels=tuple(labels),
            rates=rates,
            thresholds=tuple(thresholds),
        )


def _narrow(constraint: object, at_us: int, start_us: int, end_us: int) -> tuple[int, int]:
    """``[start_us, end_us)`` narrowed to the part around ``at_us`` where ``constraint``'s
    ``active()`` cannot change (an unknown constraint type: ``at_us`` alone)."""
    if constraint is None:
        return start_us, end_us
    if isinstance(constraint, StartDateConstraint):
        # active from the start date's UTC midnight on (the library compares UTC dates)
        edges: tuple[int, ...] = ((constraint.start_date - date(1970, 1, 1)).days * _DAY_US,)
    elif isinstance(constraint, TimeOfDateConstraint):
        day = at_us - at_us % _DAY_US
        edges = tuple(
            day + offset + _utc_time_of_day_us(edge)
            for offset in (-_DAY_US, 0, _DAY_US)
            for edge in (constraint.start_time, constraint.end_time)
        )
    else:
        return at_us, at_us + 1
    for edge in edges:
        if edge <= at_us:
            start_us = max(start_us, edge)
        else:
            end_us = min(end_us, edge)
    return start_us, end_us


def _utc_time_of_day_us(value: time) -> int:
    """µs after UTC midnight of a constraint's time of day (naive = UTC), as genai-prices
    converts it."""
    if value.tzinfo is not None:
        value = datetime.combine(date(1970, 1, 1), value).astimezone(UTC).timetz()
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond


def _variant_applies(
    variant: PriceVariant, parameters: Mapping[str, object], when: datetime
) -> bool:
    return all(parameters.get(key) == value for key, value in variant.when.items()) and (
        variant.constraint is None or variant.constraint.active(when)
    )


class CatalogPriceSource:
    """``PriceSource`` over the genai-prices catalog (bundled snapshot, USD).

    Args:
        providers: catalog providers; default: the package's bundled data.
        cache_size: model names whose resolution is cached (LRU, misses included).

    ``lookup`` never raises for unknown names; it ignores ``project_id`` and ``metadata``
    (catalog prices are global). Model ids look like ``genai-prices:openai:gpt-4o``.
    """

    def __init__(
        self, providers: Sequence[Provider] | None = None, *, cache_size: int = 16_384
    ) -> None:
        self._index = CatalogIndex(providers if providers is not None else get_snapshot().providers)
        self._resolve = functools.lru_cache(maxsize=cache_size)(self._resolve_uncached)

    def lookup(self, query: PriceQuery) -> MatchedPrice | None:
        """Prices of ``query.model`` at ``query.at_us``, tier chosen by usage and parameters."""
        entry = self._resolve(query.model)
        if entry is None:
            return None
        return entry.table(query.at_us, query.model_parameters).matched(query.usage)

    def _resolve_uncached(self, name: str) -> _CatalogModel | None:
        found = self._index.find(name)
        if found is None:
            return None
        provider, model = found
        # As genai-prices: variants apply only to a provider's own models, not fallback ones.
        own = any(candidate is model for candidate in provider.models)
        return _CatalogModel(
            provider=provider,
            model=model,
            model_id=f"genai-prices:{provider.id}:{model.id}",
            variants=tuple(model.price_variants or ()) if own else (),
        )
