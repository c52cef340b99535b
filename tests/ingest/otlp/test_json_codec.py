"""OTLP/JSON decoding: hex ids, int64, enums, unknown fields, errors (otlp-and-peers §1.2)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ingest.mapping import IngestContext, map_export_request
from ingest.otlp.json_codec import OTLPDecodeError, parse_export_request


def body(*spans: dict[str, Any], extra: dict[str, Any] | None = None) -> bytes:
    document: dict[str, Any] = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "s"}}]
                },
                "scopeSpans": [{"scope": {"name": "sc"}, "spans": list(spans)}],
            }
        ]
    }
    if extra:
        document.update(extra)
    return json.dumps(document).encode()


def span(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "s",
        "kind": 2,
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
    }
    base.update(fields)
    return base


def test_hex_ids_are_decoded_case_insensitively() -> None:
    request = parse_export_request(
        body(
            span(
                traceId="5B8EFFF798038103D269B633813FC60C",
                spanId="EEE19B7EC3C1B174",
                parentSpanId="eee19b7ec3c1b173",
            )
        )
    )
    decoded = request.resource_spans[0].scope_spans[0].spans[0]
    assert decoded.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert decoded.span_id == bytes.fromhex("eee19b7ec3c1b174")
    assert decoded.parent_span_id == bytes.fromhex("eee19b7ec3c1b173")


def test_int64_as_string_or_number_enums_as_integers_and_values() -> None:
    attributes = [
        {"key": "i_str", "value": {"intValue": "9007199254740993"}},
        {"key": "i_num", "value": {"intValue": 5}},
        {"key": "b", "value": {"bytesValue": base64.b64encode(b"\x01\x02").decode()}},
    ]
    request = parse_export_request(body(span(attributes=attributes, status={"code": 2})))
    decoded = request.resource_spans[0].scope_spans[0].spans[0]
    assert decoded.start_time_unix_nano == 1544712660000000000
    assert decoded.end_time_unix_nano == 1544712661000000000
    assert decoded.kind == 2
    assert decoded.status.code == 2
    values = {kv.key: kv.value for kv in decoded.attributes}
    assert values["i_str"].int_value == 9007199254740993
    assert values["i_num"].int_value == 5
    assert values["b"].bytes_value == b"\x01\x02"  # other bytes stay base64


def test_unknown_fields_are_ignored() -> None:
    request = parse_export_request(
        body(span(futureField={"x": 1}), extra={"somethingNew": True, "schemaUrl": "x"})
    )
    assert len(request.resource_spans[0].scope_spans[0].spans) == 1


def test_link_ids_are_converted() -> None:
    links = [{"traceId": "AB" * 16, "spanId": "cd" * 8}]
    request = parse_export_request(body(span(links=links)))
    link = request.resource_spans[0].scope_spans[0].spans[0].links[0]
    assert link.trace_id == b"\xab" * 16
    assert link.span_id == b"\xcd" * 8


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("traceId", "abc", b""),  # not hex of the right length
        ("traceId", "zz" * 16, b""),  # right length, not hex
        ("spanId", "eee19b7ec3c1b1", b""),  # 7 bytes
        ("parentSpanId", "not-hex!", b"\x00"),  # invalid parent: one byte, rejected later
        ("parentSpanId", "", b""),  # empty parent: root span
    ],
)
def test_malformed_ids(field: str, value: str, expected: bytes) -> None:
    request = parse_export_request(body(span(**{field: value})))
    decoded = request.resource_spans[0].scope_spans[0].spans[0]
    proto_field = {"traceId": "trace_id", "spanId": "span_id", "parentSpanId": "parent_span_id"}
    assert getattr(decoded, proto_field[field]) == expected


def test_legacy_base64_ids_are_tolerated() -> None:
    trace = bytes.fromhex("5b8efff798038103d269b633813fc60c")
    request = parse_export_request(
        body(
            span(
                traceId=base64.b64encode(trace).decode(),
                spanId=base64.b64encode(b"\x07" * 8).decode(),
            )
        )
    )
    decoded = request.resource_spans[0].scope_spans[0].spans[0]
    assert decoded.trace_id == trace
    assert decoded.span_id == b"\x07" * 8


def test_missing_id_stays_missing() -> None:
    plain = span()
    del plain["traceId"]
    request = parse_export_request(body(plain))
    assert request.resource_spans[0].scope_spans[0].spans[0].trace_id == b""


def test_bad_ids_reject_only_their_span() -> None:
    request = parse_export_request(
        body(
            span(name="good"),
            span(name="bad-trace", traceId="abc"),
            span(name="bad-parent", spanId="eee19b7ec3c1b175", parentSpanId="xyz"),
        )
    )
    result = map_export_request(request, IngestContext(project_id="p"), now_us=1)
    assert [r.name for r in result.records] == ["good"]
    assert result.rejected_spans == 2
    assert result.errors[0].startswith('span 1 "bad-trace": missing or malformed trace_id')
    assert result.errors[1] == 'span 2 "bad-parent": invalid parent_span_id (1 bytes, want 0 or 8)'


def test_empty_object_is_an_empty_request() -> None:
    assert len(parse_export_request(b"{}").resource_spans) == 0


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "top level must be a JSON object, got list"),
        (b'{"resourceSpans": "nope"}', "does not match ExportTraceServiceRequest"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"endTimeUnixNano": "soon"}]}]}]}',
            "does not match",
        ),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}', "does not match"),
    ],
)
def test_bad_bodies_raise_a_value_error(payload: bytes, reason: str) -> None:
    with pytest.raises(OTLPDecodeError) as error:
        parse_export_request(payload)
    assert isinstance(error.value, ValueError)
    assert reason in str(error.value)
