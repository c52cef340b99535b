"""Small builders for OTLP protobuf spans/requests used by the mapping unit tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.mapping import IngestContext, MappingResult, map_export_request
from storage.records import ObservationRecord

TRACE_ID = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
SPAN_ID = bytes.fromhex("00f067aa0ba902b7")
PARENT_ID = bytes.fromhex("53995c3f42cd8ad8")
START_NS = 1_763_802_000_123_456_789
END_NS = 1_763_802_001_654_321_000
NOW_US = 1_700_000_000_000_000


def any_value(value: Any) -> AnyValue:
    """Python value → OTLP ``AnyValue`` (dict → kvlist, bytes → bytes_value)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    out = AnyValue()
    if isinstance(value, list):
        out.array_value.values.extend(any_value(item) for item in value)
    elif isinstance(value, dict):
        out.kvlist_value.values.extend(key_values(value))
    else:
        raise TypeError(value)
    return out


def key_values(attributes: Mapping[str, Any]) -> list[KeyValue]:
    """``{key: value}`` → ``[KeyValue]``."""
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def make_span(
    attributes: Mapping[str, Any] | None = None,
    *,
    name: str = "span",
    trace_id: bytes = TRACE_ID,
    span_id: bytes = SPAN_ID,
    parent_span_id: bytes = b"",
    start_ns: int = START_NS,
    end_ns: int = END_NS,
    status_code: int = 0,
    status_message: str = "",
    events: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> Span:
    """One OTLP span with sensible defaults (valid ids, a 1.5 s duration)."""
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
    )
    span.attributes.extend(key_values(attributes or {}))
    span.status.code = status_code  # type: ignore[assignment]
    span.status.message = status_message
    for event_name, event_attributes in events:
        event = span.events.add(name=event_name, time_unix_nano=start_ns)
        event.attributes.extend(key_values(event_attributes))
    return span


def make_request(
    *spans: Span,
    resource: Mapping[str, Any] | None = None,
    scope_name: str = "test.scope",
    scope_version: str = "1.0.0",
    scope_attributes: Mapping[str, Any] | None = None,
) -> ExportTraceServiceRequest:
    """A request with one resource and one scope holding ``spans``."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values(resource or {}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope_name
    scope_spans.scope.version = scope_version
    scope_spans.scope.attributes.extend(key_values(scope_attributes or {}))
    scope_spans.spans.extend(spans)
    return request


def map_request(
    request: ExportTraceServiceRequest, ctx: IngestContext | None = None
) -> MappingResult:
    """``map_export_request`` with a test project and a fixed clock."""
    return map_export_request(request, ctx or IngestContext(project_id="proj-1"), now_us=NOW_US)


def map_one(
    attributes: Mapping[str, Any] | None = None,
    *,
    resource: Mapping[str, Any] | None = None,
    scope_name: str = "test.scope",
    scope_version: str = "1.0.0",
    ctx: IngestContext | None = None,
    **span_kwargs: Any,
) -> ObservationRecord:
    """Map a single span and return its record (fails if the span was rejected)."""
    request = make_request(
        make_span(attributes, **span_kwargs),
        resource=resource,
        scope_name=scope_name,
        scope_version=scope_version,
    )
    result = map_request(request, ctx)
    assert result.rejected_spans == 0, result.errors
    (record,) = result.records
    return record
