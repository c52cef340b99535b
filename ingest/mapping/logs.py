"""OTLP log records → observation input/output updates and scores (docs/mapping.md "GenAI
event log records").

Official GenAI instrumentations (``opentelemetry-instrumentation-openai-v2``, google-genai,
vertexai, ...) send message content and evaluation results as OTLP log records, linked to their
span by trace and span id (GenAI semantic conventions, "Events"; OTLP ``logs.proto``
``LogRecord.event_name``). Langfuse has no logs endpoint; otelfuse keeps what these events say:

Event name: ``LogRecord.event_name``, else the ``event.name`` attribute.

- ``gen_ai.client.inference.operation.details``: input/output of span ``span_id`` (content in
  the attributes);
- ``gen_ai.{system,user,assistant,tool}.message``, ``gen_ai.choice``: input messages / output
  of span ``span_id`` (content in the body);
- ``gen_ai.evaluation.result``: a score (``ingest.mapping.evaluation``);
- anything else: refused in ``partial_success`` (otelfuse stores GenAI events only).

The events of one span within a request are turned into ``Span.Event``s (the body's fields, or
``content`` for a string body, are the event attributes of the per-message events, as the span
events of the same name carry them) and run through the span mapping's own event rules
(``io.events_io``, steps 4-6), so a log record gives the input/output its span event twin would.
The result is one ``partial`` + ``from_log`` ``ObservationRecord`` per span: only ids and
input/output set; ``processors.merge`` folds it onto the span, whichever arrives first.

Refused: a log record that is not a GenAI event, a content event without a valid span context
(16-byte trace id and 8-byte span id, not all zero), an evaluation result without a valid trace
id, name, or value/label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.mapping.attributes import decode_key_values
from ingest.mapping.context import MAX_ERRORS, IngestContext
from ingest.mapping.evaluation import EVALUATION_EVENT, evaluation_score
from ingest.mapping.fields import DEFAULT_ENVIRONMENT, ENVIRONMENT_KEYS, normalize_environment
from ingest.mapping.io import events_io
from ingest.mapping.values import Value, json_text, truthy
from storage.records import MAX_TIME_US, MIN_TIME_US, ObservationRecord, ScoreRecord

__all__ = ["CONTENT_EVENTS", "GENAI_EVENTS", "NOT_GENAI", "LogsResult", "map_logs_request"]

CONTENT_EVENTS: Final[frozenset[str]] = frozenset(
    {
        "gen_ai.client.inference.operation.details",
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
    }
)
"""GenAI events whose content becomes the input/output of their span."""

GENAI_EVENTS: Final[frozenset[str]] = CONTENT_EVENTS | {EVALUATION_EVENT}
"""Every event name the logs receiver stores."""

NOT_GENAI: Final = "otelfuse stores GenAI events only"
"""The reason given for every other log record."""

_BODY_EVENTS: Final = CONTENT_EVENTS - {"gen_ai.client.inference.operation.details"}
_NOT_CONTENT: Final = frozenset({"event.name", "gen_ai.system", "gen_ai.provider.name"})
_ZERO_TRACE_ID: Final = bytes(16)
_ZERO_SPAN_ID: Final = bytes(8)

_SpanKey = tuple[str, str]


@dataclass(slots=True)
class LogsResult:
    """Outcome of mapping one ``ExportLogsServiceRequest``.

    Attributes:
        records: one partial ``from_log`` record per span with content, in first-seen order.
        scores: one score per accepted evaluation result.
        accepted: log records stored (as part of a record or a score, or a content event that
            carried nothing to store).
        not_genai: log records refused because they are not GenAI events.
        invalid: GenAI events refused (no span context, no evaluation name, ...).
        errors: the first ``MAX_ERRORS`` reasons.
    """

    records: list[ObservationRecord] = field(default_factory=list)
    scores: list[ScoreRecord] = field(default_factory=list)
    accepted: int = 0
    not_genai: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Log records refused (``partial_success.rejected_log_records``)."""
        return self.not_genai + self.invalid

    def reject(self, reason: str, *, genai: bool) -> None:
        if genai:
            self.invalid += 1
        else:
            self.not_genai += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(reason)


def event_name(record: LogRecord, attributes: dict[str, Value]) -> str:
    """``LogRecord.event_name``, else the ``event.name`` attribute (older SDKs), else ""."""
    if record.event_name:
        return record.event_name
    name = attributes.get("event.name")
    return name if isinstance(name, str) else ""


def _content_event(name: str, record: LogRecord) -> Span.Event:
    """The span event twin of a content log record (module docstring)."""
    attributes: list[KeyValue]
    body = record.body
    kind = body.WhichOneof("value")
    if name in _BODY_EVENTS and kind == "kvlist_value":
        attributes = list(body.kvlist_value.values)
    elif name in _BODY_EVENTS and kind == "string_value":
        attributes = [KeyValue(key="content", value=body)]
    else:
        attributes = [kv for kv in record.attributes if kv.key not in _NOT_CONTENT]
    return Span.Event(name=name, time_unix_nano=record.time_unix_nano, attributes=attributes)


def _environment(resource: dict[str, Value]) -> str:
    for key in ENVIRONMENT_KEYS:
        value = resource.get(key)
        if truthy(value):
            return normalize_environment(value)
    return DEFAULT_ENVIRONMENT


def _time_us(record: LogRecord, now_us: int) -> int:
    time_us = (record.time_unix_nano or record.observed_time_unix_nano) // 1000
    return time_us if MIN_TIME_US <= time_us <= MAX_TIME_US else now_us


def map_logs_request(
    request: ExportLogsServiceRequest, ctx: IngestContext, *, now_us: int
) -> LogsResult:
    """Map every log record of ``request`` (rules: module docstring).

    Args:
        request: a decoded OTLP logs export.
        ctx: the authenticated project.
        now_us: Unix µs used for an evaluation result without a usable time.

    Returns:
        ``LogsResult``; log records are numbered from 0 across the request in the reasons
        (``log record 2 "app.started": not a GenAI event; otelfuse stores GenAI events only``).
    """
    result = LogsResult()
    events: dict[_SpanKey, list[Span.Event]] = {}
    scopes: dict[_SpanKey, str] = {}
    index = -1
    for resource_logs in request.resource_logs:
        resource = decode_key_values(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                index += 1
                attributes = decode_key_values(record.attributes)
                name = event_name(record, attributes)
                label = f'log record {index} "{name[:100]}"' if name else f"log record {index}"
                if name not in GENAI_EVENTS:
                    result.reject(f"{label}: not a GenAI event; {NOT_GENAI}", genai=False)
                    continue
                trace_id, span_id = record.trace_id, record.span_id
                if len(trace_id) != 16 or trace_id == _ZERO_TRACE_ID:
                    result.reject(f"{label}: no valid trace_id", genai=True)
                    continue
                span_ok = len(span_id) == 8 and span_id != _ZERO_SPAN_ID
                if name == EVALUATION_EVENT:
                    score = evaluation_score(
                        attributes,
                        project_id=ctx.project_id,
                        trace_id=trace_id.hex(),
                        span_id=span_id.hex() if span_ok else "",
                        timestamp_us=_time_us(record, now_us),
                        environment=_environment(resource),
                    )
                    if isinstance(score, str):
                        result.reject(f"{label}: {score}", genai=True)
                    else:
                        result.scores.append(score)
                        result.accepted += 1
                    continue
                if not span_ok:
                    result.reject(f"{label}: no valid span_id", genai=True)
                    continue
                key = (trace_id.hex(), span_id.hex())
                events.setdefault(key, []).append(_content_event(name, record))
                scopes.setdefault(key, scope_logs.scope.name)
                result.accepted += 1
    for (trace_id_hex, span_id_hex), span_events in events.items():
        found = events_io(span_events, scopes[(trace_id_hex, span_id_hex)])
        if found is None:
            continue
        raw_input, raw_output = found
        record_out = ObservationRecord(
            project_id=ctx.project_id,
            id=span_id_hex,
            trace_id=trace_id_hex,
            partial=True,
            from_log=True,
        )
        if raw_input is not None:
            record_out.input = json_text(raw_input)
        if raw_output is not None:
            record_out.output = json_text(raw_output)
        if record_out.HasField("input") or record_out.HasField("output"):
            result.records.append(record_out)
    return result
