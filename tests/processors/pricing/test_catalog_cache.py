"""The catalog's cached price selection (time windows, variants per parameter text) against the
uncached one, for every catalog model with dated, time-of-day or variant prices."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

from genai_prices.types import ModelPrice, StartDateConstraint, TimeOfDateConstraint

from processors.attributes import JsonObjectView
from processors.pricing.catalog import CatalogPriceSource
from storage.records import MAX_TIME_US, MIN_TIME_US

DAY_US = 86_400_000_000
PARAMETERS = [
    "",
    "{}",
    "not json",
    '{"service_tier": "priority"}',
    '{"service_tier": "flex", "processing": "batch"}',
    '{"processing": "batch"}',
    '{"service_tier": "default", "temperature": 0.2}',
    '{"speed": "fast"}',
    '{"service_tier": ["priority"]}',
]


def _edges(constraint: object, around: int) -> list[int]:
    if isinstance(constraint, StartDateConstraint):
        midnight = (constraint.start_date - date(1970, 1, 1)).days * DAY_US
        return [midnight - 1, midnight, midnight + 1]
    if isinstance(constraint, TimeOfDateConstraint):
        day = around - around % DAY_US
        out = []
        for value in (constraint.start_time, constraint.end_time):
            moment = datetime.combine(date(1970, 1, 1), value)
            moment = moment.replace(tzinfo=UTC) if value.tzinfo is None else moment
            offset = int(moment.astimezone(UTC).timestamp() * 1_000_000) % DAY_US
            out += [day + offset - 1, day + offset, day + offset + 1]
        return out
    return []


def test_cached_price_tables_match_the_uncached_selection() -> None:
    catalog = CatalogPriceSource()
    rng = random.Random(7)
    checked = 0
    base = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1_000_000)
    for provider in catalog._index._providers:
        for model in provider.models:
            prices = model.prices
            constraints = [] if isinstance(prices, ModelPrice) else [p.constraint for p in prices]
            constraints += [v.constraint for v in model.price_variants or ()]
            if not any(c is not None for c in constraints) and not model.price_variants:
                continue
            entry = catalog._resolve(f"{provider.id}/{model.id}")
            if entry is None or entry.model is not model:
                continue
            times = [base + rng.randrange(-400 * DAY_US, 400 * DAY_US) for _ in range(6)]
            for c in constraints:
                times += _edges(c, base) + _edges(c, times[0])
            times = [t for t in times if MIN_TIME_US <= t <= MAX_TIME_US]
            rng.shuffle(times)
            for at_us in times + times[::-1]:
                for text in PARAMETERS:
                    cached = entry.table(at_us, JsonObjectView(text))
                    uncached = entry.table_uncached(at_us, JsonObjectView(text))
                    assert cached is uncached, (provider.id, model.id, at_us, text)
                    checked += 1
                for parameters in ({}, {"service_tier": "priority"}, {"processing": "batch"}):
                    assert entry.table(at_us, parameters) is entry.table_uncached(at_us, parameters)
    assert checked > 10_000
