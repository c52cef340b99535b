"""The enricher of the PostgreSQL setup: project custom model prices first, then a fallback
source, plus prompt ids.

``PostgresEnricher`` is ``processors.enrich.Enricher`` over
``ChainedPriceSource([PostgresPriceSource, fallback])`` (``processors.pricing``); per batch it
prefetches the ``(project, model)`` pairs in one query before enriching, then links prompts.
``postgres_enricher`` is the production wiring (``ingest.app``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from processors.enrich import Enricher, EnrichStats
from processors.pricing.catalog import CatalogPriceSource
from processors.pricing.postgres import DEFAULT_MODEL_CACHE_TTL_S, PostgresPriceSource
from processors.pricing.sources import ChainedPriceSource, PriceSource
from processors.tokens import TiktokenCounter, TokenCounter
from storage.postgres.models import ModelRepository
from storage.postgres.pool import LoopBridge
from storage.postgres.prompts import PromptKey, PromptRepository, PromptResolver
from storage.records import ObservationRecord

__all__ = ["PostgresEnricher", "postgres_enricher"]

log = logging.getLogger(__name__)


class PostgresEnricher(Enricher):
    """``Enricher`` with custom models first, then ``fallback`` prices, plus prompt links.

    Per batch: prefetch the ``(project, model)`` pairs of all records in one query, run the
    normal enrichment (``processors.enrich``, unchanged), then set ``prompt_id`` of records that
    name a prompt (``prompt_name`` + ``prompt_version``) from ``PromptResolver``. A failing prompt
    lookup is logged and leaves ``prompt_id`` unset; it never fails the batch.
    """

    def __init__(
        self,
        custom: PostgresPriceSource,
        fallback: PriceSource,
        tokens: TokenCounter | None,
        prompts: PromptResolver | None = None,
    ) -> None:
        super().__init__(ChainedPriceSource([custom, fallback]), tokens)
        self._custom = custom
        self._prompts = prompts

    def enrich(self, records: Sequence[ObservationRecord]) -> EnrichStats:
        """Prefetch custom models, enrich, link prompts (class docstring)."""
        try:
            self._custom.prefetch(
                (r.project_id, r.provided_model_name.strip())
                for r in records
                if r.provided_model_name.strip()
            )
        except Exception as exc:  # lookups retry per record and count their failures
            log.warning("custom model prefetch failed: %s", exc)
        stats = super().enrich(records)
        if self._prompts is not None:
            self._link_prompts(records, self._prompts)
        return stats

    @staticmethod
    def _link_prompts(records: Sequence[ObservationRecord], prompts: PromptResolver) -> None:
        wanted: list[tuple[ObservationRecord, PromptKey]] = [
            (r, (r.project_id, r.prompt_name, r.prompt_version))
            for r in records
            if r.HasField("prompt_name") and r.HasField("prompt_version") and r.prompt_name
        ]
        if not wanted:
            return
        try:
            ids = prompts.resolve_many([key for _, key in wanted])
        except Exception as exc:
            log.warning("prompt lookup failed; prompt ids left empty: %s", exc)
            return
        for record, key in wanted:
            prompt_id = ids.get(key)
            if prompt_id is None:
                record.ClearField("prompt_id")
            else:
                record.prompt_id = prompt_id


def postgres_enricher(
    cache_dir: Path,
    models: ModelRepository,
    prompts: PromptRepository,
    bridge: LoopBridge,
    *,
    ttl_s: float = DEFAULT_MODEL_CACHE_TTL_S,
) -> PostgresEnricher:
    """The production wiring with PostgreSQL: custom models, then the genai-prices catalog;
    offline tiktoken estimation; prompt ids. Builds tokenizer files: call it in a thread.

    ``bridge`` must wrap the loop owning the repositories' pool.
    """
    return PostgresEnricher(
        PostgresPriceSource(models, bridge, ttl_s=ttl_s),
        CatalogPriceSource(),
        TiktokenCounter(cache_dir / "tiktoken"),
        PromptResolver(prompts, bridge, ttl_s=ttl_s),
    )
