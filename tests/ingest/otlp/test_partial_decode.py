"""Issue 15 item 8: one undecodable span must not refuse the whole export.

A request whose bytes do not parse as a whole (invalid UTF-8 in one string, nesting deeper than
upb's limit, one span of the wrong JSON shape) keeps its decodable spans; the others are
rejected one by one in ``partial_success`` with their reason, numbered like every other
rejected span.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from ingest.mapping import IngestContext, map_export_request
from ingest.otlp.json_codec import OTLPDecodeError, decode_json_request
from ingest.otlp.protobuf_codec import decode_protobuf_request

TRACE_ID = bytes(range(1, 17))
MARK = b"@@BAD@@"
"""Placeholder string replaced by invalid UTF-8 in the serialized bytes."""


def span(n: int, value: str = "fine", name: str = "") -> Span:
    return Span(
        trace_id=TRACE_ID,
        span_id=bytes([n + 1] * 8),
        name=name or f"span-{n}",
        start_time_unix_nano=1_763_770_000_000_000_000,
        end_time_unix_nano=1_763_770_000_500_000_000,
        attributes=[KeyValue(key="note", value=AnyValue(string_value=value))],
    )


def request(*groups: list[Span], resource_value: str = "svc") -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[
                        KeyValue(key="service.name", value=AnyValue(string_value=resource_value))
                    ]
                ),
                scope_spans=[ScopeSpans(spans=group)],
            )
            for group in groups
        ]
    )


def with_bad_utf8(message: ExportTraceServiceRequest) -> bytes:
    body = message.SerializeToString()
    assert MARK in body
    return body.replace(MARK, b"\xff\xfe\xfd\xfc\xfb\xfa\xf9")  # same length: lengths stay valid


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def deep_span_bytes(n: int, depth: int) -> bytes:
    """A span whose attribute is ``depth`` nested arrays (AnyValue.array_value = 5,
    ArrayValue.values = 1), built on the wire: protobuf refuses to build it in memory."""
    value = AnyValue(string_value="leaf").SerializeToString()
    for _ in range(depth):
        value = _field(5, _field(1, value))
    attribute = _field(1, b"deep") + _field(2, value)  # KeyValue.key = 1, .value = 2
    return span(n).SerializeToString() + _field(9, attribute)  # Span.attributes = 9


def wrap(*span_bytes: bytes) -> bytes:
    """ExportTraceServiceRequest{resource_spans{scope_spans{spans...}}} on the wire."""
    scope_spans = b"".join(_field(2, s) for s in span_bytes)  # ScopeSpans.spans = 2
    return _field(1, _field(2, scope_spans))  # request.resource_spans = 1, .scope_spans = 2


def mapped(decoded: Any) -> Any:
    return map_export_request(
        decoded.request, IngestContext(project_id="p"), now_us=1, rejected=decoded.rejected
    )


def test_invalid_utf8_in_one_attribute_rejects_only_that_span() -> None:
    body = with_bad_utf8(request([span(0), span(1, MARK.decode()), span(2)]))
    with pytest.raises(DecodeError):  # the strict parse refuses it all
        ExportTraceServiceRequest.FromString(body)
    decoded = decode_protobuf_request(body)
    result = mapped(decoded)
    assert [r.name for r in result.records] == ["span-0", "span-2"]
    assert result.rejected_spans == 1
    assert result.errors[0].startswith('span 1 "span-1": undecodable span: ')
    assert "UTF-8" in result.errors[0]


def test_invalid_utf8_in_a_span_name_is_reported_with_a_readable_name() -> None:
    body = with_bad_utf8(request([span(0, name=MARK.decode()), span(1)]))
    result = mapped(decode_protobuf_request(body))
    assert [r.name for r in result.records] == ["span-1"]
    assert result.errors[0].startswith('span 0 "\ufffd')


def test_invalid_utf8_in_a_resource_rejects_its_spans_only() -> None:
    body = with_bad_utf8(request([span(0), span(1)], resource_value=MARK.decode()))
    good = request([span(2)]).SerializeToString()
    result = mapped(decode_protobuf_request(body + good))  # concatenated: two resource_spans
    assert [r.name for r in result.records] == ["span-2"]
    assert result.rejected_spans == 2
    assert result.errors[0].startswith('span 0 "span-0": undecodable resource: ')
    assert result.errors[1].startswith('span 1 "span-1": undecodable resource: ')


def test_nesting_deeper_than_upb_allows_rejects_only_that_span() -> None:
    body = wrap(span(0).SerializeToString(), deep_span_bytes(1, 200), span(2).SerializeToString())
    result = mapped(decode_protobuf_request(body))
    assert [r.name for r in result.records] == ["span-0", "span-2"]
    assert result.rejected_spans == 1
    assert result.errors[0].startswith('span 1 "span-1": undecodable span: ')


def test_nesting_that_fits_in_a_span_alone_is_kept() -> None:
    """upb counts depth from the top message; a span parsed on its own has 3 more levels."""
    body = wrap(deep_span_bytes(0, 48), span(1).SerializeToString())
    with pytest.raises(DecodeError):
        ExportTraceServiceRequest.FromString(body)
    result = mapped(decode_protobuf_request(body))
    assert [r.name for r in result.records] == ["span-0", "span-1"]


def test_a_valid_body_is_decoded_as_is() -> None:
    message = request([span(0), span(1)])
    decoded = decode_protobuf_request(message.SerializeToString())
    assert decoded.request == message and decoded.rejected == {}


def test_garbage_still_refuses_the_request() -> None:
    with pytest.raises(OTLPDecodeError, match="invalid OTLP protobuf"):
        decode_protobuf_request(b"\xff\xff\xff\x0fnot a protobuf")


def json_span(n: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "traceId": TRACE_ID.hex(),
        "spanId": bytes([n + 1] * 8).hex(),
        "name": f"span-{n}",
        "startTimeUnixNano": "1763770000000000000",
        "endTimeUnixNano": "1763770000500000000",
    }
    base.update(fields)
    return base


def json_body(*spans: Any, resource: Any = None) -> bytes:
    group: dict[str, Any] = {"scopeSpans": [{"scope": {"name": "s"}, "spans": list(spans)}]}
    if resource is not None:
        group["resource"] = resource
    return json.dumps({"resourceSpans": [group]}).encode()


def test_json_span_of_the_wrong_shape_rejects_only_that_span() -> None:
    bad_attribute = [{"key": "n", "value": {"intValue": "not a number"}}]
    body = json_body(
        json_span(0), json_span(1, attributes=bad_attribute), json_span(2, traceId=5), json_span(3)
    )
    result = mapped(decode_json_request(body))
    assert [r.name for r in result.records] == ["span-0", "span-3"]
    assert result.rejected_spans == 2
    assert result.errors[0].startswith('span 1 "span-1": undecodable span: ')
    assert result.errors[1].startswith('span 2 "span-2": undecodable span: ')


def test_json_nesting_too_deep_for_the_parser_rejects_only_that_span() -> None:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(300):
        value = {"arrayValue": {"values": [value]}}
    body = json_body(json_span(0), json_span(1, attributes=[{"key": "d", "value": value}]))
    result = mapped(decode_json_request(body))
    assert [r.name for r in result.records] == ["span-0"]
    assert result.rejected_spans == 1


def test_json_bad_resource_rejects_its_spans() -> None:
    body = json_body(json_span(0), json_span(1), resource={"attributes": "nope"})
    result = mapped(decode_json_request(body))
    assert result.records == [] and result.rejected_spans == 2
    assert "undecodable resource" in result.errors[0]


def test_json_that_is_not_otlp_still_refuses_the_request() -> None:
    with pytest.raises(OTLPDecodeError):
        decode_json_request(b'{"resourceSpans": "nope"}')
    with pytest.raises(OTLPDecodeError):
        decode_json_request(b"\xff{}")  # JSON must be UTF-8 (RFC 8259 §8.1): all or nothing
