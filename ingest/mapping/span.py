"""One OTLP span → one ``ObservationRecord`` (docs/reference/langfuse.md §1.4-§1.12).

``span_id_problem`` validates ids (cheap, before any decoding); ``shared_record`` builds, once per
scope of a request, a partial record (serialized) with the fields every span of that scope
shares; ``map_span`` parses it into the span's record and sets only the span's fields that have a
value. With the upb protobuf runtime every field set costs about the same whether it is a
constructor keyword or an assignment, a ``None`` keyword costs as much as a value, and parsing
the shared bytes is cheaper than ``MergeFrom`` of a built message (``bench.mapping_instructions``).
Enrichment fields (``usage_details``, ``cost_details``, ``total_cost``, ``internal_model_id``,
pricing tier, ``usage_estimated``, ``prompt_id``) stay empty: processors fill them.

Ids become lowercase hex; an empty or all-zero parent span id means "no parent". Times are Unix
microseconds (``ns // 1000``): a missing start takes the end, a missing end the start, both
missing take ``now_us``; an end before the start becomes the start (Langfuse's rule).
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.mapping.context import IngestContext
from ingest.mapping.fields import (
    AGENT_OPERATIONS_WITHOUT_MODEL,
    completion_start_time_us,
    environment,
    level,
    model_name,
    model_parameters,
    observation_name,
    prompt_reference,
    release,
    status_message,
    version,
)
from ingest.mapping.io import extract_io
from ingest.mapping.metadata import (
    OBSERVATION_METADATA,
    TRACE_METADATA,
    metadata_entries,
    scope_metadata,
    span_metadata,
)
from ingest.mapping.observation_type import observation_type
from ingest.mapping.tools import find_tool_definitions, input_with_tools
from ingest.mapping.trace_fields import trace_fields
from ingest.mapping.usage import provided_cost, provided_usage
from ingest.mapping.values import Value, js_string, json_text
from ingest.mapping.view import ResourceView, ScopeView, SpanView
from storage.records import MAX_TIME_US, MIN_TIME_US, ObservationRecord, TraceFields

__all__ = [
    "InvalidSpan",
    "map_span",
    "shared_record",
    "span_id_problem",
    "span_time_problem",
    "span_times_us",
]


class InvalidSpan(ValueError):
    """The span can't become an observation; the message is the rejection reason."""


_ZERO_TRACE_ID: Final = bytes(16)
_ZERO_SPAN_ID: Final = bytes(8)


def span_id_problem(span: Span) -> str | None:
    """Why the span's ids are unusable, or None when they are fine.

    trace_id must be 16 bytes and not all zero; span_id 8 bytes and not all zero;
    parent_span_id empty or 8 bytes. ``ingest.otlp.json_codec`` turns a malformed hex id into empty
    bytes (a malformed parent id into one byte), so those are reported here too.
    """
    trace_id = span.trace_id
    if not trace_id:
        return "missing or malformed trace_id (want 16 bytes, 32 hex characters in JSON)"
    if len(trace_id) != 16:
        return f"invalid trace_id ({len(trace_id)} bytes, want 16)"
    if trace_id == _ZERO_TRACE_ID:
        return "invalid trace_id (all zero)"
    span_id = span.span_id
    if not span_id:
        return "missing or malformed span_id (want 8 bytes, 16 hex characters in JSON)"
    if len(span_id) != 8:
        return f"invalid span_id ({len(span_id)} bytes, want 8)"
    if span_id == _ZERO_SPAN_ID:
        return "invalid span_id (all zero)"
    parent = span.parent_span_id
    if parent and len(parent) != 8:
        return f"invalid parent_span_id ({len(parent)} bytes, want 0 or 8)"
    return None


def span_times_us(span: Span, now_us: int) -> tuple[int, int]:
    """``(start_us, end_us)`` of a span, with the missing-edge fallbacks of §1.4.

    An end before the start becomes the start (latency 0, never negative), as Langfuse does for
    every observation (``worker/src/services/IngestionService/index.ts``,
    ``mergeObservationRecords``: "Override endTimes that are before startTimes with the
    startTime"; ingestion events get the same rule in ``processors.merge``).
    """
    start_ns = span.start_time_unix_nano
    end_ns = span.end_time_unix_nano
    if start_ns and end_ns:
        return start_ns // 1000, max(start_ns, end_ns) // 1000
    if start_ns:
        return start_ns // 1000, start_ns // 1000
    if end_ns:
        return end_ns // 1000, end_ns // 1000
    return now_us, now_us


def span_time_problem(start_us: int, end_us: int) -> str | None:
    """Why the span's times can't be stored, or None (range: ``storage.records.MIN_TIME_US`` ..
    ``MAX_TIME_US``, 1973-03-03 .. 2286-11-20)."""
    for what, value in (("start", start_us), ("end", end_us)):
        if not MIN_TIME_US <= value <= MAX_TIME_US:
            return f"{what} time {value * 1000} ns is outside 1973-03-03..2286-11-20"
    return None


def shared_record(ctx: IngestContext, resource: ResourceView, scope: ScopeView) -> bytes:
    """A partial ``ObservationRecord``, serialized, with the fields every span of one scope of a
    request shares: project, ingestion SDK headers, scope name/version, the resource's
    ``service.*`` / ``telemetry.sdk.*`` attributes (as ``String(x)``, "" when absent) and an
    empty ``trace`` (present on every record; ``map_span`` only sets what a span adds to it).
    ``map_span`` parses each span's record from it (cheaper than ten keywords per span)."""
    r = resource.attributes
    return ObservationRecord(
        project_id=ctx.project_id,
        scope_name=scope.name,
        scope_version=scope.version,
        service_name=_text(r.get("service.name")),
        service_version=_text(r.get("service.version")),
        telemetry_sdk_language=_text(r.get("telemetry.sdk.language")),
        telemetry_sdk_name=_text(r.get("telemetry.sdk.name")),
        telemetry_sdk_version=_text(r.get("telemetry.sdk.version")),
        ingestion_sdk_name=ctx.sdk_name,
        ingestion_sdk_version=ctx.sdk_version,
        metadata=scope_metadata(resource, scope),
        trace=TraceFields(),
    ).SerializeToString()


def map_span(view: SpanView, shared: bytes, now_us: int) -> ObservationRecord:
    """The ``ObservationRecord`` of one span whose ids passed ``span_id_problem``.

    ``shared``: ``shared_record`` of the span's scope.
    """
    span = view.span
    a = view.attributes
    parent = span.parent_span_id
    parent_id = parent.hex() if parent and parent != _ZERO_SPAN_ID else None
    start_us, end_us = span_times_us(span, now_us)
    if start_us < MIN_TIME_US or end_us > MAX_TIME_US:  # end_us >= start_us
        raise InvalidSpan(span_time_problem(start_us, end_us) or "time out of range")
    completion_start = completion_start_time_us(view, start_us)
    if completion_start is not None and not MIN_TIME_US <= completion_start <= MAX_TIME_US:
        completion_start = None
    obs_type = observation_type(view)
    with_model = a.get("gen_ai.operation.name") not in AGENT_OPERATIONS_WITHOUT_MODEL
    prompt_name, prompt_version = (
        prompt_reference(view) if obs_type == "GENERATION" else (None, None)
    )
    raw_input, raw_output = extract_io(view)
    json_values = view.json_metadata_values
    entries = metadata_entries(a, view.groups, OBSERVATION_METADATA, json_values)
    tools = find_tool_definitions(
        view, entries.get("tools") or view.resource.trace_metadata.get("tools")
    )
    if tools is not None:
        joined, with_tools = input_with_tools(raw_input, tools.tools)
        if joined:
            raw_input = with_tools
        else:
            tools = None
    # Start from the scope's shared fields and set only the fields that have a value: each field
    # set costs the upb runtime the same whether it comes as a keyword or an assignment, and a
    # ``None`` keyword costs as much as a value.
    record = ObservationRecord.FromString(shared)
    record.id = span.span_id.hex()
    record.trace_id = span.trace_id.hex()
    if parent_id is not None:
        record.parent_observation_id = parent_id
    record.type = obs_type
    record.name = observation_name(view)
    record.environment = environment(view)
    record.start_time_us = start_us
    record.end_time_us = end_us
    if completion_start is not None:
        record.completion_start_time_us = completion_start
    record.level = level(view)
    text = status_message(view)
    if text is not None:
        record.status_message = text
    text = version(view)
    if text is not None:
        record.version = text
    text = release(view)
    if text is not None:
        record.release = text
    if raw_input is not None:
        record.input = json_text(raw_input)
    if raw_output is not None:
        record.output = json_text(raw_output)
    if with_model:
        text = model_name(view)
        if text is not None:
            record.provided_model_name = text
    text = model_parameters(view)
    if text is not None:
        record.model_parameters = text
    if prompt_name is not None:
        record.prompt_name = prompt_name
    if prompt_version is not None:
        record.prompt_version = prompt_version
    _set_trace(
        record,
        trace_fields(
            view,
            is_root=parent_id is None,
            trace_metadata=metadata_entries(a, view.groups, TRACE_METADATA, json_values),
        ),
    )
    if _is_app_root(a.get("langfuse.internal.is_app_root")):
        record.is_app_root = True
    # Map fields are filled item by item: for a dict passed to the constructor the upb runtime
    # runs ``MutableMapping.update`` (an ABC check and a Python loop), which is slower.
    metadata = record.metadata
    for key, text in span_metadata(view, entries, tools).items():
        metadata[key] = text
    if with_model:
        usage = provided_usage(view)
        if usage:
            usage_map = record.provided_usage_details
            for key, count in usage.items():
                usage_map[key] = count
        cost = provided_cost(view)
        if cost:
            cost_map = record.provided_cost_details
            for key, amount in cost.items():
                cost_map[key] = amount
    return record


def _set_trace(record: ObservationRecord, fields: dict[str, Any]) -> None:
    """Set ``record.trace`` (already present, from ``shared_record``) from the keywords
    ``trace_fields.trace_fields`` returns."""
    if len(fields) == 1:  # only ``is_root``, most spans
        if fields["is_root"]:
            record.trace.is_root = True
        return
    target = record.trace
    for key, value in fields.items():
        if key == "metadata":
            metadata = target.metadata
            for name, text in value.items():
                metadata[name] = text
        elif key == "tags":
            target.tags.extend(value)
        elif key != "is_root" or value:
            setattr(target, key, value)


def _is_app_root(value: Value) -> bool:
    """``langfuse.internal.is_app_root`` is ``true`` or ``"true"`` (Langfuse ``extractIsAppRoot``,
    docs/reference/langfuse.md §1.5)."""
    return value is True or value == "true"


def _text(value: Value) -> str:
    return "" if value is None else js_string(value)
