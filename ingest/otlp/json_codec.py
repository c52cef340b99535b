"""OTLP/JSON request bodies → ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest``
(docs/reference/otlp.md §1.2).

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
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["OTLPDecodeError", "parse_export_request", "parse_logs_request"]

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_EMPTY = ""
_INVALID_PARENT = base64.b64encode(b"\x00").decode("ascii")


class OTLPDecodeError(ValueError):
    """The body is not OTLP/JSON: not JSON, or not an ``ExportTraceServiceRequest`` (→ HTTP 400).

    ``str(error)`` is a short, client-facing reason.
    """


def parse_export_request(body: bytes) -> ExportTraceServiceRequest:
    """Decode an OTLP/JSON trace export body (UTF-8) into the protobuf request.

    Args:
        body: the raw (already decompressed) HTTP request body.

    Returns:
        The ``ExportTraceServiceRequest``; ``{}`` gives an empty request.

    Raises:
        OTLPDecodeError: the body is not JSON, its top level is not an object, or it does not
            fit the ``ExportTraceServiceRequest`` schema (the message says where).
    """
    document = _document(body)
    _rewrite_ids(document)
    return _fill(document, ExportTraceServiceRequest())


def parse_logs_request(body: bytes) -> ExportLogsServiceRequest:
    """Decode an OTLP/JSON logs export body into the protobuf request: as
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
    return _fill(document, ExportLogsServiceRequest())


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


_Request = TypeVar("_Request", ExportTraceServiceRequest, ExportLogsServiceRequest)


def _fill(document: dict[str, Any], request: _Request) -> _Request:
    kind = type(request).__name__
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OTLPDecodeError(f"does not match {kind}: {exc}") from None
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
        raise OTLPDecodeError(f"does not match {kind}: {type(exc).__name__}: {exc}") from None
    return request


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
