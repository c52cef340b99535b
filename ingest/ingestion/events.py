"""Envelope validation, ordering and dispatch of an ingestion batch
(docs/reference/langfuse.md §3.2).

Envelope: ``{id: string (1..800 chars, no CR), timestamp: ISO-8601, type, body: object,
metadata?}``; ``id`` identifies the envelope (the 207 entries use it), ``body.id`` the entity.
Each event is validated on its own: a bad one becomes a 400 entry, the rest proceed.
Valid events are ordered like Langfuse (step 3): every non-update event by envelope timestamp,
then the ``*-update`` events by timestamp (stable for equal timestamps), and converted:

- observation events → partial ``ObservationRecord`` (``ingest.ingestion.observations``);
- ``trace-create`` → trace-only ``ObservationRecord`` (``ingest.ingestion.traces``);
- ``score-create`` → ``ScoreRecord`` (``ingest.ingestion.scores.parse_score``; source EVAL allowed);
- ``sdk-log`` → logged only.

``dataset-run-item-create`` (internal in Langfuse) and unknown types are 400 entries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.ingestion.observations import OBSERVATION_EVENT_TYPES, observation_record
from ingest.ingestion.scores import parse_score
from ingest.ingestion.telemetry import INGESTION_METRICS
from ingest.ingestion.traces import trace_record
from ingest.ingestion.values import Invalid, time_us
from ingest.mapping.context import IngestContext
from storage.records import ObservationRecord, ScoreRecord

__all__ = ["MAX_EVENT_ID", "ParsedBatch", "parse_batch"]

log = logging.getLogger(__name__)

MAX_EVENT_ID = 800
"""Longest envelope id (characters)."""

_UNSUPPORTED = frozenset({"dataset-run-item-create"})


@dataclass(slots=True)
class ParsedBatch:
    """The outcome of validating and converting one batch.

    Attributes:
        records: ``(envelope id, event type, record)`` for observation and trace events, in
            processing order (the sink must keep it: later events merge onto earlier ones).
        scores: ``(envelope id, event type, record)`` for score events.
        logged: envelope ids of ``sdk-log`` events (successes, nothing stored).
        errors: 207 error entries ``{id, status: 400, message}``.
    """

    records: list[tuple[str, str, ObservationRecord]] = field(default_factory=list)
    scores: list[tuple[str, str, ScoreRecord]] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, event_id: str, message: str, event_type: object = None) -> None:
        """Add a 400 entry."""
        self.errors.append({"id": event_id, "status": 400, "message": message})
        INGESTION_METRICS.event(event_type, "invalid")


@dataclass(frozen=True, slots=True)
class _Event:
    id: str
    type: str
    time_us: int
    body: dict[str, Any]


def _envelope(raw: Any) -> _Event:
    if not isinstance(raw, dict):
        raise Invalid("event must be a JSON object")
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_EVENT_ID:
        raise Invalid(f"id must be a string of 1..{MAX_EVENT_ID} characters")
    if "\r" in event_id:
        raise Invalid("id must not contain a carriage return")
    event_type = raw.get("type")
    if not isinstance(event_type, str):
        raise Invalid("type must be a string")
    if event_type in _UNSUPPORTED:
        raise Invalid(f"event type {event_type} is not accepted on this endpoint")
    if event_type not in OBSERVATION_EVENT_TYPES and event_type not in (
        "trace-create",
        "score-create",
        "sdk-log",
    ):
        raise Invalid(f"unknown event type {event_type!r}")
    body = raw.get("body")
    if not isinstance(body, dict):
        raise Invalid("body must be an object")
    return _Event(event_id, event_type, time_us(raw.get("timestamp"), "timestamp"), body)


def _sorted(events: list[_Event]) -> list[_Event]:
    """Non-update events by timestamp, then update events by timestamp (stable)."""
    return sorted(events, key=lambda e: (e.type.endswith("-update"), e.time_us))


def _convert(event: _Event, ctx: IngestContext, now_us: int, out: ParsedBatch) -> None:
    if event.type == "sdk-log":
        log.info("sdk-log event %s: %s", event.id, orjson.dumps(event.body.get("log"))[:2000])
        out.logged.append(event.id)
    elif event.type == "score-create":
        score = parse_score(event.body, ctx.project_id, now_us=now_us, allow_eval=True)
        out.scores.append((event.id, event.type, score))
    elif event.type == "trace-create":
        record = trace_record(event.body, ctx, event_time_us=event.time_us)
        out.records.append((event.id, event.type, record))
    else:
        record = observation_record(event.type, event.body, ctx, event_time_us=event.time_us)
        out.records.append((event.id, event.type, record))


def parse_batch(batch: list[Any], ctx: IngestContext, *, now_us: int) -> ParsedBatch:
    """Validate, order and convert the events of ``batch`` (rules: module docstring)."""
    out = ParsedBatch()
    events: list[_Event] = []
    for index, raw in enumerate(batch):
        try:
            events.append(_envelope(raw))
        except Invalid as exc:
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            event_id = raw_id if isinstance(raw_id, str) and raw_id else f"unknown-{index}"
            raw_type = raw.get("type") if isinstance(raw, dict) else None
            out.reject(event_id, f"invalid event: {exc}", raw_type)
    for event in _sorted(events):
        try:
            _convert(event, ctx, now_us, out)
        except Invalid as exc:
            out.reject(event.id, f"invalid {event.type} body: {exc}", event.type)
    return out
