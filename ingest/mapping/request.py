"""Map a whole ``ExportTraceServiceRequest``: resources, scopes, spans
(docs/reference/langfuse.md §1).

Walks ``resource_spans → scope_spans → spans``, builds the shared ``ResourceView`` /
``ScopeView`` (and the partial record its spans share, ``span.shared_record``) once per
part, validates each span's ids and maps it with ``span.map_span``.
A span with bad ids, or whose mapping raises, is rejected alone (counted and explained in the
``MappingResult``); the other spans are still mapped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from ingest.mapping.attributes import decode_key_values
from ingest.mapping.context import IngestContext, MappingResult
from ingest.mapping.evaluation import span_event_scores
from ingest.mapping.fields import resource_environment
from ingest.mapping.metadata import TRACE_METADATA, metadata_entries, scope_metadata_json
from ingest.mapping.span import InvalidSpan, map_span, shared_record, span_id_problem
from ingest.mapping.values import json_encode
from ingest.mapping.view import ResourceView, ScopeView, SpanView, group_keys, index_keys

__all__ = ["build_resource_view", "build_scope_view", "map_export_request", "sdk_json_metadata"]

_NAME_IN_REASON: Final = 100
"""Characters of the span name quoted in a rejection reason."""


def map_export_request(
    request: ExportTraceServiceRequest,
    ctx: IngestContext,
    *,
    now_us: int | None = None,
    rejected: Mapping[int, str] | None = None,
) -> MappingResult:
    """Map every span of ``request`` to an ``ObservationRecord``.

    Args:
        request: a decoded OTLP trace export (``ingest.otlp.protobuf_codec`` or
            ``ingest.otlp.json_codec``).
        ctx: project and Langfuse SDK headers of the request.
        now_us: Unix µs used for spans without any timestamp; default: the current time.
        rejected: spans the decoder could not decode (``DecodedRequest.rejected``: span index →
            reason); they are placeholders in ``request`` and are rejected with that reason.

    Returns:
        ``MappingResult(records, rejected_spans, errors)``; records keep request order. Spans
        are numbered from 0 across the whole request in the reasons
        (``span 2 "chat gpt-4o": invalid trace_id (3 bytes, want 16)``).
    """
    if now_us is None:
        now_us = time.time_ns() // 1000
    result = MappingResult()
    rejected = rejected or {}
    ctx_json_metadata = _ctx_json_metadata(ctx)
    index = 0
    for resource_spans in request.resource_spans:
        try:
            resource = build_resource_view(resource_spans.resource)
        except Exception as exc:  # one bad resource must not fail the request
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    result.reject(
                        _reason(index, span.name, f"resource mapping failed: {_exc(exc)}")
                    )
                    index += 1
            continue
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            if not spans:
                continue
            try:
                scope = build_scope_view(scope_spans.scope)
                shared = shared_record(ctx, resource, scope)
            except Exception as exc:
                for span in spans:
                    result.reject(_reason(index, span.name, f"scope mapping failed: {_exc(exc)}"))
                    index += 1
                continue
            json_metadata = ctx_json_metadata or sdk_json_metadata(scope, resource)
            for span in spans:
                problem = rejected.get(index) or span_id_problem(span)
                if problem is not None:
                    result.reject(_reason(index, span.name, problem))
                else:
                    try:
                        attributes = decode_key_values(span.attributes)
                        groups, present = index_keys(attributes)
                        view = SpanView(
                            span, attributes, resource, scope, json_metadata, groups, present
                        )
                        record = map_span(view, shared, now_us)
                        result.records.append(record)
                        if view.events:
                            result.scores.extend(span_event_scores(view.events, record))
                    except InvalidSpan as exc:
                        result.reject(_reason(index, span.name, str(exc)))
                    except Exception as exc:  # a mapping bug must only cost this span
                        result.reject(_reason(index, span.name, f"mapping failed: {_exc(exc)}"))
                index += 1
    return result


def build_resource_view(resource: Resource) -> ResourceView:
    """Decode a resource once for all its spans (attributes, their JSON, trace metadata,
    environment)."""
    attributes = decode_key_values(resource.attributes)
    return ResourceView(
        attributes=attributes,
        attributes_json=json_encode(attributes),
        trace_metadata=metadata_entries(attributes, group_keys(attributes), TRACE_METADATA, False),
        environment=resource_environment(attributes),
    )


def build_scope_view(scope: InstrumentationScope) -> ScopeView:
    """Decode an instrumentation scope once for all its spans."""
    attributes = decode_key_values(scope.attributes)
    return ScopeView(
        name=scope.name,
        version=scope.version,
        attributes=attributes,
        is_langfuse_sdk=scope.name.startswith("langfuse-sdk"),
        metadata_json=scope_metadata_json(scope.name, scope.version, attributes),
    )


def sdk_json_metadata(scope: ScopeView, resource: ResourceView) -> bool:
    """Spans of the Langfuse Python SDK ≥ 5 JSON-encode ``langfuse.*metadata.<k>`` values."""
    return (
        scope.is_langfuse_sdk
        and resource.attributes.get("telemetry.sdk.language") == "python"
        and _major(scope.version) >= 5
    )


def _ctx_json_metadata(ctx: IngestContext) -> bool:
    """The request comes from the Langfuse Python SDK ≥ 5 (``x-langfuse-sdk-*`` headers); its
    propagated ``langfuse.trace.metadata.<k>`` attributes are JSON-encoded on every span."""
    return ctx.sdk_name.strip().lower() == "python" and _major(ctx.sdk_version) >= 5


def _major(version: str) -> int:
    head = version.strip().lstrip("vV").split(".", 1)[0]
    return int(head) if head.isascii() and head.isdigit() else 0


def _reason(index: int, name: str, problem: str) -> str:
    if len(name) > _NAME_IN_REASON:
        name = name[:_NAME_IN_REASON] + "…"
    return f'span {index} "{name}": {problem}'


def _exc(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
