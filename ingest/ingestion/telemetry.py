"""Metrics of the JSON ingestion endpoints (docs/architecture.md "Metrics").

- ``otelfuse_receiver_scores_total{endpoint,outcome}``: scores by endpoint (``scores`` =
  POST /api/public/scores, ``ingestion`` = score-create events) and outcome ``accepted``,
  ``invalid`` (failed validation), ``too_large`` (refused by the sink: larger than a Kafka
  message) or ``storage`` (the write failed).
- ``otelfuse_receiver_ingestion_events_total{type,outcome}``: events of
  POST /api/public/ingestion by event type (the fixed Langfuse set; anything else is
  ``unknown``) and outcome ``accepted``, ``invalid``, ``too_large`` or ``storage``.
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["INGESTION_METRICS", "KNOWN_EVENT_TYPES", "IngestionMetrics"]

KNOWN_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "trace-create",
        "score-create",
        "event-create",
        "span-create",
        "span-update",
        "generation-create",
        "generation-update",
        "agent-create",
        "tool-create",
        "chain-create",
        "retriever-create",
        "evaluator-create",
        "embedding-create",
        "guardrail-create",
        "observation-create",
        "observation-update",
        "sdk-log",
        "dataset-run-item-create",
    }
)
"""Langfuse's ingestion event types (docs/reference/langfuse.md §3.2); bounded metric label
values."""


class IngestionMetrics:
    """The counters above (default registry)."""

    def __init__(self) -> None:
        self._scores = Counter(
            "otelfuse_receiver_scores",
            "Scores received on the JSON endpoints, by endpoint and outcome.",
            ["endpoint", "outcome"],
        )
        self._events = Counter(
            "otelfuse_receiver_ingestion_events",
            "Events of POST /api/public/ingestion, by event type and outcome.",
            ["type", "outcome"],
        )

    def scores(self, endpoint: str, outcome: str, count: int = 1) -> None:
        """Count ``count`` scores of ``endpoint`` with ``outcome``."""
        if count:
            self._scores.labels(endpoint, outcome).inc(count)

    def event(self, event_type: object, outcome: str) -> None:
        """Count one ingestion event; unknown types share the label ``unknown``."""
        label = event_type if isinstance(event_type, str) else "unknown"
        if label not in KNOWN_EVENT_TYPES:
            label = "unknown"
        self._events.labels(label, outcome).inc()


INGESTION_METRICS = IngestionMetrics()
"""The process-wide instance."""
