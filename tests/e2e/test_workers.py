"""``otelfuse run`` with ``OTELFUSE_WORKERS=2`` (docs/architecture.md "Worker processes"): the
worker processes serve OTLP on both ports and every other route through the owner; new HTTP
connections are spread over both workers (``SO_REUSEPORT``); ``/metrics`` passes promtool with
each worker's series labelled; a revoked key is refused at once by every process; a worker
killed mid-load loses nothing acknowledged and is started again; stopping the owner stops them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
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
from prometheus_client.parser import text_string_to_metric_families

from ingest.app.worker_metrics import PUSH_INTERVAL_S
from tests.support.clients import run_client
from tests.support.fake_openai import fake_openai
from tests.support.genai_logs import check_trace, logs_client_env
from tests.support.otel import plain_export
from tests.support.postgres import cli_env
from tests.support.service import Service, basic_auth, free_port, otelfuse_cli, start_service

SPANS = 3
RETRYABLE_HTTP = {502, 503}
RETRYABLE_GRPC = {grpc.StatusCode.UNAVAILABLE}


AUTH_TTL_S = 3600
"""So long that only the revocation notification can make a worker refuse a key in the test."""
ACCEPTED = "otelfuse_receiver_accepted_spans_total"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = {"OTELFUSE_WORKERS": "2", "OTELFUSE_AUTH_CACHE_TTL_S": str(AUTH_TTL_S)}
    service = start_service(Path(tmp_path_factory.mktemp("workers")), env)
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


def _http_post(service: Service, body: bytes, auth: str | None = None) -> httpx.Response:
    """One OTLP/HTTP export on a new connection."""
    headers = {
        "Authorization": auth or service.authorization,
        "Content-Type": "application/x-protobuf",
    }
    with httpx.Client(base_url=service.http_url, timeout=30) as client:
        return client.post("/v1/traces", content=body, headers=headers)


def _http_export(service: Service, body: bytes) -> bool:
    """One export on a new connection: True on 200, False on a retryable failure."""
    try:
        response = _http_post(service, body)
    except httpx.TransportError:
        return False
    assert response.status_code in {200, *RETRYABLE_HTTP}, (response.status_code, response.text)
    return response.status_code == 200


def _grpc_status(
    service: Service, request: ExportTraceServiceRequest, auth: str | None = None
) -> grpc.StatusCode:
    """One export on a new gRPC connection (no shared subchannel): its status."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    with grpc.insecure_channel(service.grpc_target, options=options) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        metadata = (("authorization", auth or service.authorization),)
        try:
            stub.Export(request, metadata=metadata, timeout=30)
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            return code
    return grpc.StatusCode.OK


def _grpc_export(service: Service, request: ExportTraceServiceRequest) -> bool:
    """One export on a new gRPC connection: True when OK, False on a retryable failure."""
    status = _grpc_status(service, request)
    assert status in {grpc.StatusCode.OK, *RETRYABLE_GRPC}, status
    return bool(status == grpc.StatusCode.OK)


def _accepted_by_worker(exposition: str) -> dict[str, float]:
    """HTTP spans accepted so far, by ``worker`` label (the owner's own series: "")."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == ACCEPTED and sample.labels.get("transport") == "http":
                worker = sample.labels.get("worker", "")
                totals[worker] = totals.get(worker, 0) + sample.value
    return totals


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


def _listening_socket(process: psutil.Process, port: int) -> str:
    """The socket (``socket:[inode]``) on which ``process`` listens on TCP ``port``, once it
    does (the service answers health checks once one worker serves; the other may still be
    starting, and its socket gets no connections until it listens)."""
    deadline = time.monotonic() + 60
    while not (
        fds := [
            c.fd
            for c in process.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
    ):
        assert time.monotonic() < deadline, f"worker {process.pid} does not listen on {port}"
        time.sleep(0.1)
    [fd] = fds
    return os.readlink(f"/proc/{process.pid}/fd/{fd}")


def test_new_http_connections_are_spread_over_both_workers(svc: Service) -> None:
    """Each worker has its own ``SO_REUSEPORT`` socket on the one HTTP port (not one socket
    shared by both, whose connections the worker quickest in ``accept()`` takes, under load
    most of them): the kernel hands new connections to both (each export below is one new
    connection, as an exporter without keep-alive sends them), counted per worker in
    ``/metrics``."""
    port = int(svc.http_url.rsplit(":", 1)[1])
    sockets = [_listening_socket(worker, port) for worker in _workers(svc)]
    assert len(set(sockets)) == 2, sockets  # two sockets, not one shared by both
    exports, per_export = 64, SPANS
    time.sleep(2 * PUSH_INTERVAL_S)  # the earlier tests' counts have reached the owner
    before = _accepted_by_worker(svc.client.get("/metrics").text)
    bodies = [plain_export(os.urandom(16), per_export).SerializeToString() for _ in range(exports)]
    with ThreadPoolExecutor(8) as pool:
        retries = list(pool.map(lambda b: _until_ok(lambda: _http_export(svc, b)), bodies))
    assert sum(retries) == 0
    total_before = sum(before.values())
    after = svc.metrics_when(ACCEPTED, total_before + exports * per_export, {"transport": "http"})
    served = {
        worker: (count - before.get(worker, 0)) / per_export
        for worker, count in _accepted_by_worker(after).items()
    }
    assert sum(served.values()) == exports
    assert served.get("", 0) == 0  # the owner serves no export itself
    # SO_REUSEPORT hashes each connection's addresses and ports: about half each; at least a
    # quarter each fails by chance with probability < 1e-4 (binomial, n = 64)
    assert served.get("1", 0) >= exports / 4 and served.get("2", 0) >= exports / 4, served


def test_metrics_of_the_workers_pass_promtool(svc: Service) -> None:
    """Each worker's series carries ``worker="N"`` inside the owner's family of the same name
    (every ``TYPE`` once), and the exposition passes Prometheus's own linter."""
    text = svc.metrics_when(ACCEPTED, 1, {"transport": "http"})
    assert 'otelfuse_receiver_accepted_spans_total{transport="http",worker="' in text
    types = [line for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run deploy/local/system-deps.sh (Debian prometheus)"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_revoked_key_is_refused_at_once_by_every_worker(svc: Service) -> None:
    """``otelfuse keys revoke`` notifies every process (PostgreSQL NOTIFY); with an auth cache
    TTL of an hour, only that can make both workers refuse the key over both transports."""
    env = cli_env("", svc.data_dir)
    created = json.loads(
        otelfuse_cli(["keys", "create", "--project", svc.project_id, "--json"], env).stdout
    )
    auth = basic_auth(created["publicKey"], created["secretKey"])
    body = plain_export(os.urandom(16), 1).SerializeToString()
    request = plain_export(os.urandom(16), 1)
    connections = 16  # each on a new connection: both workers see the key (spread above)
    assert [_http_post(svc, body, auth).status_code for _ in range(connections)] == [200] * 16
    assert {_grpc_status(svc, request, auth) for _ in range(8)} == {grpc.StatusCode.OK}
    assert svc.get("/api/public/traces", auth=auth).status_code == 200  # the owner's cache

    otelfuse_cli(["keys", "revoke", created["publicKey"]], env)
    revoked_at = time.monotonic()
    refused: list[int] = []
    while len(refused) < connections:  # consecutive refusals on new connections
        status = _http_post(svc, body, auth).status_code
        refused = [*refused, status] if status == 401 else []
        # seconds, not the hour of the TTL (the bound leaves room for a busy test machine)
        assert time.monotonic() - revoked_at < 10, "a worker still accepts the revoked key"
    assert {_grpc_status(svc, request, auth) for _ in range(8)} == {grpc.StatusCode.UNAUTHENTICATED}
    assert svc.get("/api/public/traces", auth=auth).status_code == 401
    assert _http_export(svc, body)  # the other keys still work


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


def test_an_http_port_in_use_fails_the_start(tmp_path: Path) -> None:
    """Also a listener with ``SO_REUSEPORT`` of the same user (another otelfuse, say), whose
    group the workers' sockets could join: the owner's probe bind refuses the port."""
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    taken.bind(("127.0.0.1", free_port()))
    taken.listen()
    try:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(RuntimeError, match="cannot bind HTTP server") as failed:
            start_service(tmp_path, {"OTELFUSE_WORKERS": "2", "OTELFUSE_HTTP_ADDRESS": address})
    finally:
        taken.close()
    assert "Address already in use" in str(failed.value)


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
