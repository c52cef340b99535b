"""Inputs and outputs of the span mapping: ``IngestContext`` and ``MappingResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from storage.records import ObservationRecord, ScoreRecord

__all__ = ["MAX_ERRORS", "IngestContext", "MappingResult"]

MAX_ERRORS: Final = 10
"""Rejection reasons kept in ``MappingResult.errors`` (all are counted in ``rejected_spans``)."""


@dataclass(frozen=True, slots=True)
class IngestContext:
    """Per-request facts that are not in the OTLP payload.

    Attributes:
        project_id: the authenticated project; copied to every record.
        sdk_name: ``x-langfuse-sdk-name`` request header ("" when absent), e.g. ``python``.
        sdk_version: ``x-langfuse-sdk-version`` request header, e.g. ``5.0.4``.
    """

    project_id: str
    sdk_name: str = ""
    sdk_version: str = ""


@dataclass(slots=True)
class MappingResult:
    """Outcome of mapping one ``ExportTraceServiceRequest``.

    Attributes:
        records: one ``ObservationRecord`` per accepted span, in request order.
        rejected_spans: number of spans that could not be mapped (OTLP ``partial_success``).
        errors: human-readable reasons, at most ``MAX_ERRORS`` (the first ones), e.g.
            ``span 2 "chat gpt-4o": invalid trace_id (3 bytes, want 16)``.
        scores: one ``ScoreRecord`` per ``gen_ai.evaluation.result`` span event of an accepted
            span (``ingest.mapping.evaluation``).
    """

    records: list[ObservationRecord] = field(default_factory=list)
    rejected_spans: int = 0
    errors: list[str] = field(default_factory=list)
    scores: list[ScoreRecord] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        """Count one rejected span and keep ``reason`` if fewer than ``MAX_ERRORS`` are kept."""
        self.rejected_spans += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(reason)
