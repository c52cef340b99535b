"""Fuzzing the OTLP decoders (protobuf, JSON) and the span mapping: no input raises anything but
``OTLPDecodeError`` (→ 400 / INVALID_ARGUMENT), and a decoded request maps without raising into
records that encode, every span either mapped or rejected."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from hypothesis import example, given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ingest.mapping import IngestContext, map_export_request
from ingest.otlp.decoded import DecodedRequest, OTLPDecodeError
from ingest.otlp.json_codec import decode_json_request
from ingest.otlp.protobuf_codec import decode_protobuf_request
from storage.records import encode_observation_batch
from tests.fuzz.budget import Budget, budgets
from tests.fuzz.strategies import export_requests, json_values, mutated, replace_leaf

CTX = IngestContext(project_id="p", sdk_name="python", sdk_version="5.0.0")
NOW_US = 1_763_770_000_000_000


def check_mapping(decoded: DecodedRequest) -> None:
    """Every span is mapped or rejected, and the records encode for Kafka and ClickHouse."""
    result = map_export_request(decoded.request, CTX, now_us=NOW_US, rejected=decoded.rejected)
    spans = sum(
        len(scope.spans) for group in decoded.request.resource_spans for scope in group.scope_spans
    )
    assert len(result.records) + result.rejected_spans == spans
    if result.records:
        encode_observation_batch(result.records)


def decode_and_map(decode: Callable[[bytes], DecodedRequest], body: bytes) -> None:
    """``decode`` may refuse ``body`` with ``OTLPDecodeError`` only; what it decodes maps."""
    try:
        decoded = decode(body)
    except OTLPDecodeError:
        return
    check_mapping(decoded)


def decode_protobuf(body: bytes) -> None:
    decode_and_map(decode_protobuf_request, body)


def decode_json(body: bytes) -> None:
    decode_and_map(decode_json_request, body)


@budgets
def test_mapping_never_raises(budget: Budget) -> None:
    @budget.settings
    @given(export_requests)
    def check(request: ExportTraceServiceRequest) -> None:
        check_mapping(DecodedRequest(request))

    check()


@budgets
def test_protobuf_decoder_only_raises_decode_errors(budget: Budget) -> None:
    @budget.settings
    @given(st.binary(max_size=200))
    @example(b"\xff\xff\xff\x0fnot a protobuf")
    @example(b"\x0a\x02\x12\x00")  # resource_spans { scope_spans {} }
    def random_bytes(body: bytes) -> None:
        decode_protobuf(body)

    @budget.settings
    @given(st.data(), export_requests)
    def mutated_requests(data: st.DataObject, request: ExportTraceServiceRequest) -> None:
        decode_protobuf(data.draw(mutated(request.SerializeToString())))

    random_bytes()
    mutated_requests()


@budgets
def test_json_decoder_only_raises_decode_errors(budget: Budget) -> None:
    @budget.settings
    @given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
    @example(b'{"resourceSpans": [{"scopeSpans": [{"spans": [null]}]}]}')
    @example(b'{"resourceSpans": [{"scopeSpans": null}]}')
    def random_bodies(body: bytes) -> None:
        decode_json(body)

    @budget.settings
    @given(export_requests, st.lists(st.integers(0, 50), max_size=8), json_values)
    def mutated_requests(request: ExportTraceServiceRequest, path: list[int], value: Any) -> None:
        document = json_format.MessageToDict(request)
        decode_json(json.dumps(replace_leaf(document, path, value)).encode())

    random_bodies()
    mutated_requests()
