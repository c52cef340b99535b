"""Where prices come from: the ``PriceSource`` protocol, its result and a chain of sources.

A source maps (project, model name, observation time, usage, model parameters) to the prices of
the matched model definition and pricing tier, in USD per unit per Langfuse usage key
(docs/reference/langfuse.md §4.1-4.3). Sources: ``catalog.CatalogPriceSource`` (genai-prices
snapshot) and, later, project custom models from PostgreSQL, tried first through
``ChainedPriceSource``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

__all__ = ["ChainedPriceSource", "MatchedPrice", "PriceQuery", "PriceSource"]


@dataclass(frozen=True, slots=True)
class MatchedPrice:
    """Prices of one matched model definition and pricing tier.

    Attributes:
        model_id: id of the model definition, stored as ``internal_model_id``
            (catalog: ``genai-prices:<provider>:<model id>``).
        model_name: the definition's model name (e.g. ``gpt-4o``).
        tier_id: id of the pricing tier applied, None for a model's standard prices.
        tier_name: readable name of that tier, None for standard prices.
        prices: usage key (``input``, ``output``, ``input_cached_tokens``, ``total``, ...) ->
            USD per unit (per token). Keys absent here are not priced.
    """

    model_id: str
    model_name: str
    tier_id: str | None
    tier_name: str | None
    prices: Mapping[str, Decimal]


@dataclass(slots=True)
class PriceQuery:
    """What a price lookup knows of one generation.

    Attributes:
        project_id: the project whose custom model definitions apply first.
        model: the provided model name.
        at_us: the generation's start, Unix µs (UTC): definitions with a later ``startDate``
            do not apply.
        usage: usage key -> tokens (Langfuse keys); selects a pricing tier.
        model_parameters: top-level keys of the observation's model parameters (tier
            conditions).
        metadata: top-level keys of the observation's metadata (tier conditions), if any.
    """

    project_id: str
    model: str
    at_us: int
    usage: Mapping[str, int]
    model_parameters: Mapping[str, object]
    metadata: Mapping[str, object] | None = None


class PriceSource(Protocol):
    """Finds the prices for one observation; called once per generation record, keep it cheap."""

    def lookup(self, query: PriceQuery) -> MatchedPrice | None:
        """Prices for ``query.model`` as used by ``query.project_id`` at ``query.at_us``, the
        tier chosen by its usage, model parameters and metadata (``PriceQuery``). Returns None
        when no model definition matches. Must not raise for unknown or odd model names.
        """
        ...


class ChainedPriceSource:
    """Tries its sources in order and returns the first match (project custom models first)."""

    def __init__(self, sources: Sequence[PriceSource]) -> None:
        self._sources = tuple(sources)

    def lookup(self, query: PriceQuery) -> MatchedPrice | None:
        """The first non-None ``lookup`` result of the chained sources, else None."""
        for source in self._sources:
            found = source.lookup(query)
            if found is not None:
                return found
        return None
