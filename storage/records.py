"""The record types that travel from receivers to processors (``proto/otelfuse/v1/records.proto``).

Generated code lives in ``storage/_pb`` (``make proto``); import the messages from here.
In all-in-one mode records are passed in memory; in scale-out mode an ``ObservationBatch``
is the Kafka message value.
"""

from __future__ import annotations

from storage._pb.otelfuse.v1.records_pb2 import (
    ObservationBatch,
    ObservationRecord,
    ScoreBatch,
    ScoreRecord,
    TraceFields,
)

__all__ = ["ObservationBatch", "ObservationRecord", "ScoreBatch", "ScoreRecord", "TraceFields"]

OBSERVATION_TYPES: frozenset[str] = frozenset(
    {
        "SPAN",
        "GENERATION",
        "EVENT",
        "AGENT",
        "TOOL",
        "CHAIN",
        "RETRIEVER",
        "EVALUATOR",
        "EMBEDDING",
        "GUARDRAIL",
    }
)
"""Langfuse observation types (langfuse-anchor.md §1.7)."""

LEVELS: frozenset[str] = frozenset({"DEBUG", "DEFAULT", "WARNING", "ERROR"})
"""Langfuse observation levels (langfuse-anchor.md §1.8)."""
