"""Builders for OTLP log requests used by the logs mapping and receiver tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.ingest.mapping.spans import SPAN_ID, START_NS, TRACE_ID, any_value, key_values


def make_log(
    event_name: str,
    *,
    body: Any = None,
    attributes: Mapping[str, Any] | None = None,
    trace_id: bytes = TRACE_ID,
    span_id: bytes = SPAN_ID,
    time_ns: int = START_NS,
    name_in_attribute: bool = False,
) -> LogRecord:
    """One log record; ``name_in_attribute`` puts the name in ``event.name`` (older SDKs)."""
    record = LogRecord(trace_id=trace_id, span_id=span_id, time_unix_nano=time_ns)
    attrs = dict(attributes or {})
    if name_in_attribute:
        attrs["event.name"] = event_name
    else:
        record.event_name = event_name
    record.attributes.extend(key_values(attrs))
    if body is not None:
        record.body.CopyFrom(any_value(body))
    return record


def make_logs_request(
    *records: LogRecord,
    resource: Mapping[str, Any] | None = None,
    scope_name: str = "opentelemetry.instrumentation.openai_v2",
) -> ExportLogsServiceRequest:
    """A request with one resource and one scope holding ``records``."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(key_values(resource or {}))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = scope_name
    scope_logs.log_records.extend(records)
    return request
