"""Overload answers retryable errors, never a silent drop
(docs/architecture.md "Guarantees and how they are met").

A service with a one-record queue gets concurrent exports: those that find the queue busy get
503 + Retry-After; every span of every 200 answer is stored, none of the refused ones is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from tests.support.otel import plain_export
from tests.support.service import Service, start_service


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = start_service(
        Path(tmp_path_factory.mktemp("tiny")),
        {"OTELFUSE_QUEUE_MAX_RECORDS": "1", "OTELFUSE_BATCH_MAX_RECORDS": "1"},
    )
    yield svc
    assert svc.stop() == 0, svc.log()


def test_full_queue_answers_503_with_retry_after(tiny: Service) -> None:
    trace_ids = [os.urandom(16) for _ in range(48)]

    def send(trace_id: bytes) -> httpx.Response:
        with httpx.Client(base_url=tiny.http_url, timeout=30) as client:
            return client.post(
                "/v1/traces",
                content=plain_export(trace_id, 5).SerializeToString(),
                headers={
                    "Authorization": tiny.authorization,
                    "Content-Type": "application/x-protobuf",
                },
            )

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(send, trace_ids))

    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503}
    assert 503 in codes and 200 in codes, codes
    for trace_id, response in zip(trace_ids, responses, strict=True):
        stored = tiny.get_json("/api/public/observations", {"traceId": trace_id.hex()})
        if response.status_code == 200:
            assert stored["meta"]["totalItems"] == 5
        else:
            assert response.headers["retry-after"] == "1"
            assert stored["meta"]["totalItems"] == 0


def test_above_the_memory_budget_exports_get_503_and_health_still_answers(
    tmp_path: Path,
) -> None:
    """#15: a budget below what the process already uses (64 MiB: the embedded ClickHouse
    alone needs more) refuses every export with a retryable answer, over both transports."""
    svc = start_service(tmp_path, {"OTELFUSE_MEMORY_LIMIT_MIB": "64"})
    try:
        response = svc.client.post(
            "/v1/traces",
            content=plain_export(os.urandom(16), 3).SerializeToString(),
            headers={"Authorization": svc.authorization, "Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        channel = grpc.insecure_channel(svc.grpc_target)
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        request = plain_export(os.urandom(16), 3)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Export(request, metadata=[("authorization", svc.authorization)], timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "memory limit" in str(refused.value.details())
        channel.close()
        assert svc.client.get("/api/public/health").status_code == 200
        assert svc.get_json("/api/public/traces")["meta"]["totalItems"] == 0
    finally:
        assert svc.stop() == 0, svc.log()
