"""Bad input gets the OTLP status with a reason, and the valid part of a request is kept.

Covers: garbage protobuf and JSON, wrong content type and encoding, a gzip bomb, an oversize
body, missing and wrong credentials, invalid ids among valid spans (partial_success), and the
gRPC codes for the same cases.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.support.service import Service, basic_auth, start_service

LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A second instance with a 256 KiB request limit."""
    svc = start_service(
        Path(tmp_path_factory.mktemp("small")), {"OTELFUSE_MAX_REQUEST_BYTES": str(LIMIT)}
    )
    yield svc
    assert svc.stop() == 0, svc.log()


def _span(trace_id: bytes, span_id: bytes, name: str) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        start_time_unix_nano=1_763_770_000_000_000_000,
        end_time_unix_nano=1_763_770_000_500_000_000,
        attributes=[KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o"))],
    )


def _request(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])]
    )


def _post(service: Service, body: bytes, **headers: str) -> httpx.Response:
    base = {"Authorization": service.authorization, "Content-Type": "application/x-protobuf"}
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return service.client.post("/v1/traces", content=body, headers=base)


def _fail(service: Service, body: bytes, **headers: str) -> tuple[int, status_pb2.Status]:
    """Post and decode the ``google.rpc.Status`` of a failed export."""
    response = _post(service, body, **headers)
    assert response.status_code != 200
    return response.status_code, status_pb2.Status.FromString(response.content)


def test_garbage_protobuf_is_400_with_a_message(service: Service) -> None:
    code, status = _fail(service, b"\xff\xff\xff\x0fnot a protobuf")
    assert code == 400
    assert "invalid OTLP protobuf body" in status.message


def test_garbage_json_is_400(service: Service) -> None:
    response = service.client.post(
        "/v1/traces",
        content=b'{"resourceSpans": [',
        headers={"Authorization": service.authorization, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "invalid OTLP/JSON body" in response.json()["message"]


def test_wrong_content_type_is_415(service: Service) -> None:
    code, status = _fail(service, b"hello", Content_Type="text/plain")
    assert code == 415
    assert "Content-Type" in status.message


def test_unknown_content_encoding_is_415(service: Service) -> None:
    code, status = _fail(service, b"x", Content_Encoding="br")
    assert code == 415 and "Content-Encoding" in status.message


def test_corrupt_gzip_is_400(service: Service) -> None:
    code, status = _fail(service, b"\x1f\x8bnot gzip", Content_Encoding="gzip")
    assert code == 400 and "decompress" in status.message


def test_gzip_bomb_is_413_after_decompression(small: Service) -> None:
    bomb = gzip.compress(b"\0" * (LIMIT * 8))
    assert len(bomb) < LIMIT  # small on the wire, only too large once inflated
    code, status = _fail(small, bomb, Content_Encoding="gzip")
    assert code == 413
    assert "decompressed body exceeds" in status.message


def test_oversize_body_is_413(small: Service) -> None:
    code, status = _fail(small, os.urandom(LIMIT + 1))
    assert code == 413 and "limit" in status.message


def test_missing_and_wrong_credentials_are_401(service: Service) -> None:
    body = _request(_span(os.urandom(16), os.urandom(8), "x")).SerializeToString()
    code, status = _fail(service, body, Authorization="")
    assert code == 401 and "Authorization" in status.message
    wrong = basic_auth(service.public_key, "sk-wrong")
    code, status = _fail(service, body, Authorization=wrong)
    assert code == 401 and status.message == "invalid API key pair"
    assert service.get("/api/public/traces", auth=wrong).status_code == 401


def test_invalid_ids_are_rejected_and_valid_spans_stored(service: Service) -> None:
    trace_id = os.urandom(16)
    good = [_span(trace_id, os.urandom(8), f"good-{i}") for i in range(3)]
    bad = [
        _span(b"\x01\x02\x03", os.urandom(8), "short-trace-id"),
        _span(trace_id, b"\0" * 8, "zero-span-id"),
    ]
    body = _request(good[0], bad[0], good[1], bad[1], good[2]).SerializeToString()
    response = _post(service, body)
    assert response.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 2
    assert "short-trace-id" in parsed.partial_success.error_message
    assert "zero-span-id" in parsed.partial_success.error_message

    stored = service.get_json("/api/public/observations", {"traceId": trace_id.hex()})
    assert sorted(o["name"] for o in stored["data"]) == ["good-0", "good-1", "good-2"]


def _grpc_export(
    service: Service, request: ExportTraceServiceRequest, auth: str | None
) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(
        service.grpc_target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
        metadata = [("authorization", auth)] if auth else []
        response: ExportTraceServiceResponse = stub.Export(request, metadata=metadata, timeout=30)
        return response


def test_grpc_status_codes(small: Service) -> None:
    valid = _request(_span(os.urandom(16), os.urandom(8), "grpc-ok"))
    with pytest.raises(grpc.RpcError) as missing:
        _grpc_export(small, valid, None)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED

    huge = _request(_span(os.urandom(16), os.urandom(8), "x" * (LIMIT + 10)))
    with pytest.raises(grpc.RpcError) as too_big:
        _grpc_export(small, huge, small.authorization)
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    trace_id = os.urandom(16)
    mixed = _request(_span(trace_id, os.urandom(8), "grpc-good"), _span(b"", b"", "no-ids"))
    response = _grpc_export(small, mixed, small.authorization)
    assert response.partial_success.rejected_spans == 1
    assert "no-ids" in response.partial_success.error_message
    stored = small.get_json("/api/public/observations", {"traceId": trace_id.hex()})
    assert [o["name"] for o in stored["data"]] == ["grpc-good"]


EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _grpc_raw(service: Service, body: bytes, authorization: str | None) -> None:
    """Send ``body`` as the Export request's bytes, unparsed (a buggy or hostile client)."""
    metadata = [("authorization", authorization)] if authorization else []
    with grpc.insecure_channel(service.grpc_target) as channel:
        export = channel.unary_unary(EXPORT)
        export(body, metadata=metadata, timeout=10)


def test_grpc_undecodable_request_is_invalid_argument_and_credentials_come_first(
    service: Service,
) -> None:
    """#15 item 7: a message that does not parse answered UNKNOWN with a traceback in the log;
    and a message without credentials was parsed in full before the credential check."""
    garbage = b"\x0a\xff\xff\xff\xff\x0f" + b"\x00" * 10
    with pytest.raises(grpc.RpcError) as bad:
        _grpc_raw(service, garbage, service.authorization)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid OTLP protobuf" in (bad.value.details() or "")
    with pytest.raises(grpc.RpcError) as anonymous:
        _grpc_raw(service, garbage, None)
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Traceback" not in service.log()


def test_one_undecodable_span_is_rejected_alone_on_every_transport(service: Service) -> None:
    """#15 item 8: invalid UTF-8 in one attribute (protobuf, HTTP and gRPC) or one span of the
    wrong JSON shape refused the whole export; now only that span is rejected."""
    mark = b"@@BAD@@"
    for transport in ("http", "grpc"):
        trace_id = os.urandom(16)
        bad = _span(trace_id, os.urandom(8), "bad-utf8")
        bad.attributes.add(key="note", value=AnyValue(string_value=mark.decode()))
        message = _request(_span(trace_id, os.urandom(8), f"{transport}-good"), bad)
        body = message.SerializeToString().replace(mark, b"\xff\xfe\xfd\xfc\xfb\xfa\xf9")
        if transport == "http":
            response = _post(service, body)
            assert response.status_code == 200, response.content
            parsed = ExportTraceServiceResponse.FromString(response.content)
        else:
            with grpc.insecure_channel(service.grpc_target) as channel:
                export = channel.unary_unary(
                    EXPORT, response_deserializer=ExportTraceServiceResponse.FromString
                )
                parsed = export(body, metadata=[("authorization", service.authorization)])
        assert parsed.partial_success.rejected_spans == 1
        assert 'span 1 "bad-utf8": undecodable span' in parsed.partial_success.error_message
        stored = service.get_json("/api/public/observations", {"traceId": trace_id.hex()})
        assert [o["name"] for o in stored["data"]] == [f"{transport}-good"]

    trace_hex = os.urandom(16).hex()
    spans = [
        {"traceId": trace_hex, "spanId": os.urandom(8).hex(), "name": name, **extra}
        for name, extra in (
            ("json-good", {}),
            ("json-bad", {"attributes": [{"key": "n", "value": {"intValue": "many"}}]}),
        )
    ]
    document = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    response = service.client.post(
        "/v1/traces",
        json=document,
        headers={"Authorization": service.authorization, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    stored = service.get_json("/api/public/observations", {"traceId": trace_hex})
    assert [o["name"] for o in stored["data"]] == ["json-good"]
