"""``otelfuse run`` with ``OTELFUSE_WORKERS=2`` (docs/architecture.md "Worker processes"): the
worker processes serve OTLP on both ports and every other route through the owner; a worker
killed mid-load loses nothing acknowledged and is started again; stopping the owner stops them.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import psutil
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.clients import run_client
from tests.support.fake_openai import fake_openai
from tests.support.genai_logs import check_trace, logs_client_env
from tests.support.otel import plain_export
from tests.support.service import Service, free_port, start_service

SPANS = 3
RETRYABLE_HTTP = {502, 503}
RETRYABLE_GRPC = {grpc.StatusCode.UNAVAILABLE}


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_service(Path(tmp_path_factory.mktemp("workers")), {"OTELFUSE_WORKERS": "2"})
    yield service
    assert service.stop() == 0, service.log()


def _workers(service: Service) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(service.process.pid).children()
        if "ingest.app.worker" in child.cmdline()
    ]


def _until_ok(send: Callable[[], bool], deadline_s: float = 60) -> int:
    """Call ``send`` until it returns True (an exporter's retry loop); ``send`` returns False
    for a retryable failure. Returns the number of retries."""
    deadline = time.monotonic() + deadline_s
    retries = 0
    while not send():
        retries += 1
        assert time.monotonic() < deadline, "still failing after retries"
        time.sleep(0.2)
    return retries


def _http_export(service: Service, body: bytes) -> bool:
    """One export on a new connection: True on 200, False on a retryable failure."""
    headers = {"Authorization": service.authorization, "Content-Type": "application/x-protobuf"}
    try:
        with httpx.Client(base_url=service.http_url, timeout=30) as client:
            response = client.post("/v1/traces", content=body, headers=headers)
    except httpx.TransportError:
        return False
    assert response.status_code in {200, *RETRYABLE_HTTP}, (response.status_code, response.text)
    return response.status_code == 200


def _grpc_export(service: Service, request: ExportTraceServiceRequest) -> bool:
    """One export on a new gRPC connection (no shared subchannel)."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    with grpc.insecure_channel(service.grpc_target, options=options) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            stub.Export(request, metadata=(("authorization", service.authorization),), timeout=30)
        except grpc.RpcError as exc:
            assert exc.code() in RETRYABLE_GRPC, exc
            return False
    return True


def _stored(service: Service, trace_id: bytes) -> int:
    page = service.get_json("/api/public/observations", {"traceId": trace_id.hex(), "limit": 100})
    return int(page["meta"]["totalItems"])


def test_exports_from_many_connections_are_stored_once(svc: Service) -> None:
    assert len(_workers(svc)) == 2
    over_http = [os.urandom(16) for _ in range(24)]
    over_grpc = [os.urandom(16) for _ in range(12)]

    def http(trace_id: bytes) -> int:
        body = plain_export(trace_id, SPANS).SerializeToString()
        return _until_ok(lambda: _http_export(svc, body))

    def grpc_(trace_id: bytes) -> int:
        request = plain_export(trace_id, SPANS)
        return _until_ok(lambda: _grpc_export(svc, request))

    with ThreadPoolExecutor(12) as pool:
        retries = [*pool.map(http, over_http), *pool.map(grpc_, over_grpc)]
    assert sum(retries) == 0  # an idle service answers every export at once
    for trace_id in [*over_http, *over_grpc]:
        assert _stored(svc, trace_id) == SPANS


def test_other_routes_are_served_through_the_workers(svc: Service) -> None:
    trace_id = os.urandom(16)
    assert _http_export(svc, plain_export(trace_id, SPANS).SerializeToString())
    with httpx.Client(base_url=svc.http_url, timeout=30) as client:
        health = client.get("/api/public/health")
        assert health.json()["status"] == "OK"
        assert client.get("/api/public/traces").status_code == 401
        auth = {"Authorization": svc.authorization}
        trace = client.get(f"/api/public/traces/{trace_id.hex()}", headers=auth)
        assert trace.status_code == 200 and len(trace.json()["observations"]) == SPANS
        score = {"traceId": trace_id.hex(), "name": "accuracy", "value": 0.5}
        created = client.post("/api/public/scores", json=score, headers=auth)
        assert created.status_code == 200, created.text
        scores = client.get("/api/public/v2/scores", params={"name": "accuracy"}, headers=auth)
        assert [s["traceId"] for s in scores.json()["data"]] == [trace_id.hex()]
        event = {
            "id": "ev-1",
            "type": "span-create",
            "timestamp": "2025-11-22T00:00:00Z",
            "body": {
                "id": "obs-ingested",
                "traceId": trace_id.hex(),
                "name": "via-ingestion",
                "startTime": "2025-11-22T00:00:00Z",
            },
        }
        ingested = client.post("/api/public/ingestion", json={"batch": [event]}, headers=auth)
        assert ingested.status_code == 207 and ingested.json()["successes"], ingested.text
        observation = client.get("/api/public/observations/obs-ingested", headers=auth)
        assert observation.json()["name"] == "via-ingestion"
        deadline = time.monotonic() + 10  # workers send their metrics every second
        while 'otelfuse_receiver_accepted_spans_total{transport="http",worker="' not in (
            metrics := client.get("/metrics").text
        ):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.2)
        assert "otelfuse_receiver_queue_size_records " in metrics  # the owner's own
        assert client.get("/api/public/openapi.json").json()["paths"]


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_genai_logs_and_evaluation_scores_through_the_workers(svc: Service, transport: str) -> None:
    with fake_openai() as openai_url:
        env = logs_client_env(svc.http_url, svc.grpc_target, svc.authorization, openai_url)
        out = run_client("openai_logs", transport, "log-first", "latest", env=env)
    [trace_id] = out["trace_ids"]
    check_trace(svc.get_json(f"/api/public/traces/{trace_id}"), "latest")


def test_a_killed_worker_loses_nothing_acknowledged(svc: Service) -> None:
    victim = _workers(svc)[0]
    stop = threading.Event()
    acked: list[bytes] = []
    retried: list[int] = []

    def exporter(index: int) -> None:
        while not stop.is_set():
            trace_id = os.urandom(16)
            request = plain_export(trace_id, SPANS)
            body = request.SerializeToString()
            if index % 2:
                retried.append(_until_ok(lambda r=request: _grpc_export(svc, r)))  # type: ignore[misc]
            else:
                retried.append(_until_ok(lambda b=body: _http_export(svc, b)))  # type: ignore[misc]
            acked.append(trace_id)

    with ThreadPoolExecutor(8) as pool:
        running = [pool.submit(exporter, i) for i in range(8)]
        time.sleep(1.0)
        victim.send_signal(signal.SIGKILL)
        time.sleep(2.0)
        stop.set()
        for future in running:
            future.result()

    assert acked
    for trace_id in acked:
        assert _stored(svc, trace_id) == SPANS
    deadline = time.monotonic() + 60
    while len(_workers(svc)) < 2:
        assert time.monotonic() < deadline, svc.log()
        time.sleep(0.2)
    assert "exited with -9; starting it again in 1 s" in svc.log()
    assert victim.pid not in [w.pid for w in _workers(svc)]
    for _ in range(8):  # both workers serve again
        assert _http_export(svc, plain_export(os.urandom(16), SPANS).SerializeToString())


def test_stopping_the_owner_stops_the_workers(svc: Service) -> None:
    workers = _workers(svc)
    assert len(workers) == 2
    assert svc.stop() == 0, svc.log()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive


def test_a_worker_that_cannot_start_fails_the_owner(tmp_path: Path) -> None:
    taken = socket.socket()  # the gRPC port, held without SO_REUSEPORT
    taken.bind(("127.0.0.1", free_port()))
    taken.listen()
    try:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(RuntimeError, match="exited") as failed:
            start_service(tmp_path, {"OTELFUSE_WORKERS": "2", "OTELFUSE_GRPC_ADDRESS": address})
    finally:
        taken.close()
    assert "Failed to bind to address" in str(failed.value)  # the worker's own error
    assert "worker 1 exited with 1 while starting" in str(failed.value)


def test_workers_exit_when_the_owner_is_killed(tmp_path: Path) -> None:
    service = start_service(tmp_path, {"OTELFUSE_WORKERS": "2"})
    workers = _workers(service)
    assert len(workers) == 2
    service.process.kill()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive
    service.stop()  # the embedded PostgreSQL the owner left running
