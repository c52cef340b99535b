"""``PostgresPriceSource`` and ``PostgresEnricher`` in-process, against a real PostgreSQL.

The pool lives on an event loop in a background thread (as on the service's loop) and the
tests call ``lookup``/``enrich`` from the main thread (as the enrichment worker thread does).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from processors.postgres_enricher import PostgresEnricher
from processors.pricing.catalog import CatalogPriceSource
from processors.pricing.postgres import PostgresPriceSource
from processors.pricing.sources import PriceQuery
from storage.errors import RetryableError
from storage.postgres.model_defs import parse_model_definition
from storage.postgres.models import ModelRepository
from storage.postgres.pool import LoopBridge, PgPool, create_pool
from storage.postgres.projects import ProjectRepository
from storage.postgres.prompts import PromptRepository, PromptResolver
from storage.records import ObservationRecord
from tests.support.fakes import ManualClock

T = TypeVar("T")


@dataclass
class Loop:
    """An event loop in a thread owning a pool; ``run`` waits for a coroutine from outside."""

    loop: asyncio.AbstractEventLoop
    pool: PgPool
    bridge: LoopBridge

    def run(self, factory: Callable[[], Awaitable[T]]) -> T:
        return self.bridge.call(factory, 30)


@pytest.fixture
def loop(migrated_url: str) -> Iterator[Loop]:
    event_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=event_loop.run_forever, daemon=True)
    thread.start()
    pool = asyncio.run_coroutine_threadsafe(create_pool(migrated_url), event_loop).result(30)
    harness = Loop(event_loop, pool, LoopBridge(event_loop))

    async def setup() -> None:
        for pid in ("proj-a", "proj-b"):
            await ProjectRepository(pool).create(pid, pid)

    harness.run(setup)
    yield harness
    asyncio.run_coroutine_threadsafe(pool.close(), event_loop).result(30)
    event_loop.call_soon_threadsafe(event_loop.stop)
    thread.join(10)
    event_loop.close()


def _us(year: int, month: int = 1) -> int:
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1_000_000)


def _create(loop: Loop, project: str | None, raw: dict[str, Any]) -> str:
    models = ModelRepository(loop.pool)

    async def create() -> str:
        return (await models.create(project, parse_model_definition(raw))).id

    return loop.run(create)


PATTERN = "(?i)^(openai/)?gpt-4o$"
TIERED = {
    "modelName": "acme-tiered",
    "matchPattern": "^acme-tiered$",
    "pricingTiers": [
        {
            "name": "Standard",
            "isDefault": True,
            "priority": 0,
            "conditions": [],
            "prices": {"input": 1, "output": 2},
        },
        {
            "name": "Fast",
            "priority": 1,
            "prices": {"input": 10, "output": 20},
            "conditions": [
                {
                    "source": "model_parameters",
                    "key": "service_tier",
                    "operator": "in",
                    "values": ["priority", "fast"],
                }
            ],
        },
        {
            "name": "Large",
            "priority": 2,
            "prices": {"input": 3, "output": 4},
            "conditions": [{"usageDetailPattern": "^input", "operator": "gt", "value": 1000}],
        },
    ],
}


def test_project_first_newest_start_date_not_after_the_observation(loop: Loop) -> None:
    glob = _create(loop, None, {"modelName": "gpt-4o", "matchPattern": PATTERN, "inputPrice": 9})
    undated = _create(
        loop, "proj-a", {"modelName": "gpt-4o", "matchPattern": PATTERN, "inputPrice": 1}
    )
    y2024 = _create(
        loop,
        "proj-a",
        {
            "modelName": "gpt-4o",
            "matchPattern": PATTERN,
            "startDate": "2024-01-01T00:00:00Z",
            "inputPrice": 2,
        },
    )
    y2025 = _create(
        loop,
        "proj-a",
        {
            "modelName": "gpt-4o",
            "matchPattern": PATTERN,
            "startDate": "2025-01-01T00:00:00Z",
            "inputPrice": 3,
        },
    )
    source = PostgresPriceSource(ModelRepository(loop.pool), loop.bridge)

    def matched(project: str, model: str, at_us: int) -> tuple[str, Decimal] | None:
        found = source.lookup(PriceQuery(project, model, at_us, {"input": 1}, {}))
        return None if found is None else (found.model_id, found.prices["input"])

    assert matched("proj-a", "OpenAI/GPT-4o", _us(2026)) == (y2025, Decimal(3))
    assert matched("proj-a", "gpt-4o", _us(2024, 6)) == (y2024, Decimal(2))
    assert matched("proj-a", "gpt-4o", _us(2023)) == (undated, Decimal(1))
    assert matched("proj-b", "gpt-4o", _us(2026)) == (glob, Decimal(9))
    assert matched("proj-a", "gpt-4o-mini", _us(2026)) is None
    assert matched("proj-a", "gpt\x00-4o", _us(2026)) is None
    assert matched("proj-a", "g" * 5000, _us(2026)) is None


def test_pricing_tier_from_model_parameters_and_usage(loop: Loop) -> None:
    model_id = _create(loop, "proj-a", TIERED)
    source = PostgresPriceSource(ModelRepository(loop.pool), loop.bridge)
    at = _us(2026)
    standard = source.lookup(PriceQuery("proj-a", "acme-tiered", at, {"input": 10}, {}))
    fast = source.lookup(
        PriceQuery("proj-a", "acme-tiered", at, {"input": 10}, {"service_tier": "priority"})
    )
    large = source.lookup(
        PriceQuery("proj-a", "acme-tiered", at, {"input": 5000}, {"service_tier": "flex"})
    )
    assert standard is not None and fast is not None and large is not None
    assert (standard.model_id, standard.tier_name, standard.prices["input"]) == (
        model_id,
        "Standard",
        Decimal(1),
    )
    assert (fast.tier_name, fast.prices["output"]) == ("Fast", Decimal(20))
    assert (large.tier_name, large.prices["input"]) == ("Large", Decimal(3))
    assert standard.tier_id and fast.tier_id and standard.tier_id != fast.tier_id
    assert (
        source.lookup(PriceQuery("proj-b", "acme-tiered", at, {}, {})) is None
    )  # another project's


def test_cache_ttl_and_outage_behaviour(loop: Loop) -> None:
    clock = ManualClock()
    models = ModelRepository(loop.pool)
    source = PostgresPriceSource(models, loop.bridge, ttl_s=10, clock=clock)
    at = _us(2026)
    assert (
        source.lookup(PriceQuery("proj-a", "acme-late", at, {}, {})) is None
    )  # cached "no definition"
    _create(
        loop, "proj-a", {"modelName": "acme-late", "matchPattern": "^acme-late$", "inputPrice": 1}
    )
    clock.now = 9
    assert source.lookup(PriceQuery("proj-a", "acme-late", at, {}, {})) is None
    clock.now = 11
    assert source.lookup(PriceQuery("proj-a", "acme-late", at, {}, {})) is not None

    class Down:
        async def match_candidates(self, queries: object) -> object:
            raise RetryableError("PostgreSQL unavailable")

    source._models = Down()  # type: ignore[assignment]
    clock.now = 30  # expired entry: still used while PostgreSQL is down
    assert source.lookup(PriceQuery("proj-a", "acme-late", at, {}, {})) is not None
    with pytest.raises(RetryableError):
        source.lookup(PriceQuery("proj-a", "never-seen", at, {}, {}))


def _record(project: str, model: str, usage: dict[str, int], **fields: Any) -> ObservationRecord:
    record = ObservationRecord(
        project_id=project,
        id=f"obs-{project}-{model}",
        trace_id="0" * 32,
        type="GENERATION",
        name="chat",
        environment="default",
        start_time_us=_us(2026),
        level="DEFAULT",
        provided_model_name=model,
    )
    record.provided_usage_details.update(usage)
    for key, value in fields.items():
        setattr(record, key, value)
    return record


def test_enricher_custom_then_catalog_and_prompt_ids(loop: Loop) -> None:
    model_id = _create(
        loop,
        "proj-a",
        {
            "modelName": "gpt-4o",
            "matchPattern": PATTERN,
            "inputPrice": "0.001",
            "outputPrice": "0.002",
        },
    )
    prompts = PromptRepository(loop.pool)

    async def make_prompt() -> str:
        return (await prompts.create("proj-a", "greet", "Hello")).id

    prompt_id = loop.run(make_prompt)
    enricher = PostgresEnricher(
        PostgresPriceSource(ModelRepository(loop.pool), loop.bridge),
        CatalogPriceSource(),
        None,
        PromptResolver(prompts, loop.bridge),
    )
    custom = _record(
        "proj-a", "gpt-4o", {"input": 1000, "output": 100}, prompt_name="greet", prompt_version=1
    )
    catalog = _record(
        "proj-b", "gpt-4o", {"input": 1000, "output": 100}, prompt_name="greet", prompt_version=1
    )
    unknown_prompt = _record(
        "proj-a", "acme-none", {"input": 1}, prompt_name="greet", prompt_version=7
    )
    stats = enricher.enrich([custom, catalog, unknown_prompt])
    assert stats.failed == 0
    assert custom.internal_model_id == model_id
    assert custom.usage_pricing_tier_name == "Standard"
    costs = {key: Decimal(value) for key, value in custom.cost_details.items()}
    assert costs == {"input": Decimal(1), "output": Decimal("0.2"), "total": Decimal("1.2")}
    assert catalog.internal_model_id.startswith("genai-prices:")
    assert Decimal(catalog.total_cost) == Decimal("0.0035")  # 2.5 + 10 USD per 1M tokens
    assert custom.prompt_id == prompt_id
    assert not catalog.HasField("prompt_id")  # project B has no such prompt
    assert not unknown_prompt.HasField("prompt_id")
