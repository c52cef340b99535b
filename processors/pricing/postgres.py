"""Project custom model prices from PostgreSQL.

``PostgresPriceSource`` (a ``processors.pricing.sources.PriceSource``), Langfuse semantics
(docs/reference/langfuse.md §4.1-4.3) with one deliberate difference:

1. candidates: the project's definitions, then the global ones (``project_id`` NULL), whose
   ``match_pattern`` matches the model name. The regex is evaluated by PostgreSQL (``~``, as
   Langfuse does), not translated to Python: patterns are PostgreSQL AREs written for Langfuse
   (``(?i)`` prefix, ``\\m``/``\\M``/``\\y`` word boundaries, bracket classes) whose meaning
   differs in ``re`` in edge cases, and PostgreSQL's engine plus ``statement_timeout`` bounds a
   hostile pattern, where ``re`` can backtrack for minutes inside the processor;
2. among them, project ones first, then the newest ``start_date`` that is <= the observation's
   start time, a NULL ``start_date`` last (valid since always). Langfuse's ``modelMatch.ts``
   ignores the observation time and always takes the newest definition; its API documents
   "newest according to startDate where model.startDate < observation.startTime", which is
   what this does, so a price change dated in the future or past prices old observations right;
3. the pricing tier is chosen with ``processors.pricing.tiers.select_pricing_tier`` (usage, model
   parameters, metadata); the result carries ``internal_model_id`` (the definition's id) and the
   tier's id and name.

Caching: candidates per ``(project, model name)``, found or not, are reused for ``ttl_s``
(default 10 s, ``OTELFUSE_MODEL_CACHE_TTL_S``, as Langfuse's local model-match cache): a
definition created, changed or deleted prices generations processed at most ``ttl_s`` later.
``processors.postgres_enricher.PostgresEnricher`` prefetches the pairs of a whole batch in one
query before enriching it.
While PostgreSQL is unreachable, expired entries keep being used; a pair never seen before then
raises ``RetryableError``, which fails that record's enrichment (logged, counted, no cost)
rather than silently pricing it from the catalog.

Calls come from the enrichment worker thread; the pool lives on the service's event loop and
``storage.postgres.pool.LoopBridge`` runs each query there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from processors.pricing.sources import MatchedPrice, PriceQuery
from processors.pricing.tiers import (
    PricingTier,
    TierCondition,
    parse_condition,
    select_pricing_tier,
)
from storage.postgres.cache import BatchTTLCache
from storage.postgres.model_defs import StoredModel
from storage.postgres.models import ModelRepository
from storage.postgres.pool import LoopBridge

__all__ = ["DEFAULT_MODEL_CACHE_TTL_S", "MAX_MODEL_NAME", "PostgresPriceSource", "Query"]

log = logging.getLogger(__name__)

DEFAULT_MODEL_CACHE_TTL_S = 10.0
MAX_MODEL_NAME = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Query = tuple[str, str]
"""``(project_id, model name)``."""


@dataclass(slots=True)
class _Candidate:
    """One matching definition, ready for tier selection."""

    model_id: str
    model_name: str
    start_us: int | None
    tiers: tuple[PricingTier, ...]
    results: dict[str, MatchedPrice] = field(default_factory=dict)

    def priced(self, tier: PricingTier | None) -> MatchedPrice:
        """The ``MatchedPrice`` of ``tier`` (``None``: no prices), cached per tier id."""
        key = tier.id if tier is not None else ""
        found = self.results.get(key)
        if found is None:
            found = self.results[key] = MatchedPrice(
                model_id=self.model_id,
                model_name=self.model_name,
                tier_id=tier.id if tier is not None else None,
                tier_name=tier.name if tier is not None else None,
                prices=tier.prices if tier is not None else {},
            )
        return found


def _conditions(
    model: StoredModel, raw: Iterable[Mapping[str, object]]
) -> tuple[TierCondition, ...]:
    try:
        return tuple(parse_condition(c) for c in raw)
    except ValueError as exc:  # written around the API's validation: the tier never matches
        log.warning("model %s has an invalid tier condition (%s); tier disabled", model.id, exc)
        return ()


def _candidate(model: StoredModel) -> _Candidate:
    start = model.start_date
    return _Candidate(
        model_id=model.id,
        model_name=model.model_name,
        start_us=(start - _EPOCH) // _MICROSECOND if start is not None else None,
        tiers=tuple(
            PricingTier(
                id=t.id,
                name=t.name,
                is_default=t.is_default,
                priority=t.priority,
                conditions=_conditions(model, t.conditions),
                prices=dict(t.prices),
            )
            for t in model.tiers
        ),
    )


class PostgresPriceSource:
    """Custom model definitions of a project (then global ones) from PostgreSQL, cached.

    Args:
        models: the repository; its pool belongs to ``bridge.loop``.
        bridge: runs queries on that loop from the enrichment worker thread.
        ttl_s: how long a match (or "no definition") is reused.
        timeout_s: longest wait for one query.
        max_entries: cached pairs (least recently used dropped beyond it).
        clock: monotonic seconds (tests).
    """

    def __init__(
        self,
        models: ModelRepository,
        bridge: LoopBridge,
        *,
        ttl_s: float = DEFAULT_MODEL_CACHE_TTL_S,
        timeout_s: float = 5.0,
        max_entries: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._models = models
        self._bridge = bridge
        self._timeout = timeout_s
        self._cache: BatchTTLCache[Query, tuple[_Candidate, ...]] = BatchTTLCache(
            self._load,
            default=(),
            name="custom model",
            ttl_s=ttl_s,
            max_entries=max_entries,
            clock=clock,
        )

    def lookup(self, query: PriceQuery) -> MatchedPrice | None:
        """The matched definition's prices (module docstring), None when none matches.

        Raises:
            RetryableError: PostgreSQL unreachable and this pair was never looked up.
        """
        key = (query.project_id, query.model)
        if not _plausible(*key):
            return None
        for candidate in self._candidates([key])[key]:
            if candidate.start_us is None or candidate.start_us <= query.at_us:
                tier = select_pricing_tier(
                    candidate.tiers, query.usage, query.model_parameters, query.metadata
                )
                return candidate.priced(tier)
        return None

    def prefetch(self, queries: Iterable[Query]) -> None:
        """Load the uncached pairs among ``queries`` with one query (errors are left to
        ``lookup``)."""
        wanted = [q for q in set(queries) if _plausible(*q)]
        if wanted:
            self._candidates(wanted)

    def _candidates(self, queries: Sequence[Query]) -> dict[Query, tuple[_Candidate, ...]]:
        return self._cache.get_many(queries)

    def _load(self, missing: list[Query]) -> dict[Query, tuple[_Candidate, ...]]:
        found = self._bridge.call(lambda: self._models.match_candidates(missing), self._timeout)
        return {query: tuple(_candidate(m) for m in rows) for query, rows in found.items()}


def _plausible(project_id: str, model: str) -> bool:
    return bool(model) and len(model) <= MAX_MODEL_NAME and "\x00" not in model and bool(project_id)
