"""Processor metrics (docs/architecture.md "Metrics": ``otelfuse_<subsystem>_<name>_<unit>``).

Labels are small enums only: ``outcome`` (success|failure), ``source`` (reported|estimated) and
``token_type`` (input|output|cache|reasoning|total|other), never model or project names.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from processors.enrich import EnrichStats

__all__ = ["PROCESSOR_METRICS", "ProcessorMetrics", "token_type"]


def token_type(usage_key: str) -> str:
    """Bucket a client-chosen usage key into a bounded label value."""
    if usage_key == "total":
        return "total"
    if "cache" in usage_key:
        return "cache"
    if "reasoning" in usage_key:
        return "reasoning"
    if usage_key.startswith("input"):
        return "input"
    if usage_key.startswith("output"):
        return "output"
    return "other"


class ProcessorMetrics:
    """The processor's Prometheus instruments (default registry)."""

    def __init__(self) -> None:
        self.batches = Counter(
            "otelfuse_processor_batches", "Batches enriched and written.", ["outcome"]
        )
        self.records = Counter(
            "otelfuse_processor_records", "Observation records processed.", ["outcome"]
        )
        self.scores = Counter("otelfuse_processor_scores", "Score records written.", ["outcome"])
        self.batch_duration = Histogram(
            "otelfuse_processor_batch_duration_seconds",
            "Time to enrich and write one batch, in seconds.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.enriched = Counter(
            "otelfuse_processor_enriched_records",
            "Observation records enriched in this process (usage, tokens, cost).",
        )
        self.tokens = Counter(
            "otelfuse_processor_tokens",
            "Tokens seen, by type and source.",
            ["token_type", "source"],
        )
        self.cost = Counter("otelfuse_processor_cost_usd", "Cost of the observations written, USD.")
        self.unpriced = Counter(
            "otelfuse_processor_unpriced_generations",
            "Observations with a model name but no price and no provided cost.",
        )

    def record_enrichment(self, stats: EnrichStats) -> None:
        """Count tokens, cost and unpriced generations of one batch."""
        for (source, key), count in stats.tokens.items():
            self.tokens.labels(token_type(key), source).inc(count)
        self.cost.inc(float(stats.total_cost))
        self.unpriced.inc(stats.unpriced)


PROCESSOR_METRICS = ProcessorMetrics()
