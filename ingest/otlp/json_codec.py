"""OTLP/JSON request bodies → ``ExportTraceServiceRequest`` (docs/reference/otlp.md §1.2).

OTLP/JSON is the proto3 JSON mapping with deviations (OTLP specification, "JSON Protobuf
Encoding"):

- ``traceId`` / ``spanId`` / ``parentSpanId`` and the links' ``traceId`` / ``spanId`` are
  case-insensitive **hex** strings, not base64 (``"5B8EFFF798038103D269B633813FC60C"``);
  every other ``bytes`` field (``AnyValue.bytesValue``) stays base64;
- enums are integers (``"kind": 2``); 64-bit integers are decimal strings or numbers;
- unknown fields are ignored.

Shape (only the id-carrying path is touched here)::

    {"resourceSpans": [{"resource": {...},
                        "scopeSpans": [{"scope": {...},
                                        "spans": [{"traceId": "<32 hex>", "spanId": "<16 hex>",
                                                   "parentSpanId": "<16 hex or empty>",
                                                   "links": [{"traceId": ..., "spanId": ...}],
                                                   ...}]}]}]}

Decoding = ``orjson.loads`` → rewrite the id strings to base64 → ``json_format.ParseDict``
(``ignore_unknown_fields=True``). An id string that is not hex of the right length:

- legacy base64 of the right length (old collectors, docs/reference/otlp.md §1.2) is kept as is;
- a bad ``traceId`` / ``spanId`` becomes empty bytes, so span validation later rejects just
  that span (``ingest.mapping``);
- a bad non-empty ``parentSpanId`` becomes one zero byte (an invalid length), so the span is
  rejected too instead of silently becoming a root span;
- a missing id stays missing; an empty ``parentSpanId`` means "no parent".

``decode_json_request`` (what the receiver uses) keeps the valid part of a request that does not
fit the schema as a whole (issue 15 item 8, ``ingest.otlp.decoded``): it parses each resource,
scope and span on its own, so one span with a value of the wrong type, or nested too deep for
the parser, is rejected alone. Invalid UTF-8 cannot be confined to one span in JSON: a body
that is not UTF-8 is not JSON (RFC 8259 §8.1), and ``orjson`` refuses it (and lone surrogate
escapes such as ``"\ud800"``) as a whole.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.otlp.decoded import DecodedRequest, OTLPDecodeError, PartialRequest

__all__ = ["OTLPDecodeError", "decode_json_request", "parse_export_request", "parse_logs_request"]

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_EMPTY = ""
_INVALID_PARENT = base64.b64encode(b"\x00").decode("ascii")


_PARSE_ERRORS = (
    json_format.ParseError,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    RecursionError,
)
"""What ``json_format.ParseDict`` raises for a document that does not fit the message."""


def decode_json_request(body: bytes) -> DecodedRequest:
    """Decode an OTLP/JSON trace export body, keeping the spans that decode (module docstring).

    Returns:
        ``DecodedRequest``: the request and ``{span index: reason}`` of the spans that do not fit
        the schema (empty when the whole body fits).

    Raises:
        OTLPDecodeError: the body is not JSON, its top level is not an object, or its
            ``resourceSpans`` / ``scopeSpans`` / ``spans`` are not lists of objects.
    """
    document = _load(body)
    try:
        return DecodedRequest(_parse(document))
    except OTLPDecodeError as whole:
        return _decode_parts(document, whole)


def parse_export_request(body: bytes) -> ExportTraceServiceRequest:
    """Decode an OTLP/JSON trace export body (UTF-8) into the protobuf request, all or nothing.

    Args:
        body: the raw (already decompressed) HTTP request body.

    Returns:
        The ``ExportTraceServiceRequest``; ``{}`` gives an empty request.

    Raises:
        OTLPDecodeError: the body is not JSON, its top level is not an object, or it does not
            fit the ``ExportTraceServiceRequest`` schema (the message says where).
    """
    return _parse(_load(body))


def parse_logs_request(body: bytes) -> ExportLogsServiceRequest:
    """Decode an OTLP/JSON logs export body into the protobuf request, all or nothing: as
    ``parse_export_request``, with each log record's ``traceId`` / ``spanId`` hex (a malformed
    one becomes empty bytes, and ``ingest.mapping.logs`` refuses that record).

    Raises:
        OTLPDecodeError: as ``parse_export_request``, for ``ExportLogsServiceRequest``.
    """
    document = _document(body)
    for resource_logs in _dicts(document.get("resourceLogs")):
        for scope_logs in _dicts(resource_logs.get("scopeLogs")):
            for record in _dicts(scope_logs.get("logRecords")):
                _rewrite(record, "traceId", _TRACE_ID_BYTES, _EMPTY)
                _rewrite(record, "spanId", _SPAN_ID_BYTES, _EMPTY)
    request = ExportLogsServiceRequest()
    problem = _parse_dict(document, request)
    if problem is not None:
        raise OTLPDecodeError(f"does not match ExportLogsServiceRequest: {problem}")
    return request


def _load(body: bytes) -> dict[str, Any]:
    """A trace export document with its span and link ids rewritten for ``ParseDict``."""
    document = _document(body)
    _rewrite_ids(document)
    return document


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OTLPDecodeError(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OTLPDecodeError(
            f"top level must be a JSON object, got {type(document).__name__}"
        ) from None
    return document


def _parse(document: dict[str, Any]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    problem = _parse_dict(document, request)
    if problem is not None:
        raise OTLPDecodeError(f"does not match ExportTraceServiceRequest: {problem}")
    return request


def _parse_dict(document: Any, message: Message) -> str | None:
    """``ParseDict`` into ``message``; the reason when the document does not fit."""
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        return str(exc)
    except _PARSE_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _decode_parts(document: dict[str, Any], whole: OTLPDecodeError) -> DecodedRequest:
    """Parse each resource, scope and span on its own; ``whole`` when the lists themselves are
    malformed."""
    groups = _objects(document.get("resourceSpans") or [], whole)
    out = PartialRequest()
    for group in groups:
        resource_spans = out.resource_spans()
        problem = _parse_dict(_without(group, "scopeSpans"), resource_spans)
        if problem is not None:
            problem = f"undecodable resource: {problem}"
        for scope_group in _objects(group.get("scopeSpans") or [], whole):
            scope_spans = resource_spans.scope_spans.add()
            scope_problem = problem
            if scope_problem is None:
                scope_problem = _parse_dict(_without(scope_group, "spans"), scope_spans)
                if scope_problem is not None:
                    scope_problem = f"undecodable scope: {scope_problem}"
            for item in _objects(scope_group.get("spans") or [], whole):
                span = Span()
                span_problem = scope_problem or _parse_dict(item, span)
                if span_problem is None:
                    out.add(scope_spans, span)
                    continue
                if scope_problem is None:
                    span_problem = f"undecodable span: {span_problem}"
                name = item.get("name")
                out.reject(scope_spans, name if isinstance(name, str) else "", span_problem)
    return out.done()


def _objects(value: Any, whole: OTLPDecodeError) -> list[dict[str, Any]]:
    """``value`` as a list of JSON objects; otherwise the request is not OTLP: ``whole``."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise whole
    return value


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


def _rewrite_ids(document: dict[str, Any]) -> None:
    """Rewrite the hex id strings of every span and link to base64, in place.

    Structures of the wrong type are left alone: ``ParseDict`` reports them.
    """
    for resource_spans in _dicts(document.get("resourceSpans")):
        for scope_spans in _dicts(resource_spans.get("scopeSpans")):
            for span in _dicts(scope_spans.get("spans")):
                _rewrite(span, "traceId", _TRACE_ID_BYTES, _EMPTY)
                _rewrite(span, "spanId", _SPAN_ID_BYTES, _EMPTY)
                _rewrite(span, "parentSpanId", _SPAN_ID_BYTES, _INVALID_PARENT)
                for link in _dicts(span.get("links")):
                    _rewrite(link, "traceId", _TRACE_ID_BYTES, _EMPTY)
                    _rewrite(link, "spanId", _SPAN_ID_BYTES, _EMPTY)


def _dicts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _rewrite(obj: dict[str, Any], key: str, size: int, invalid: str) -> None:
    value = obj.get(key)
    if not isinstance(value, str):
        return  # missing stays missing; other types are ParseDict's to reject
    if not value:
        return  # empty: "no id" (a root span's parentSpanId); trace/span id fail validation
    obj[key] = _hex_to_base64(value, size, invalid)


def _hex_to_base64(value: str, size: int, invalid: str) -> str:
    if len(value) == 2 * size:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode("ascii")
        except ValueError:
            pass
    try:
        legacy = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return invalid
    return value if len(legacy) == size else invalid
