"""Raw archive and replay, all-in-one, end to end (issue 13; docs/operations.md "Replay and
disaster recovery"): a real ``otelfuse run`` with its embedded ClickHouse and PostgreSQL and the
local blob folder, real clients (OTLP/HTTP JSON, OTLP/gRPC, Langfuse ingestion and scores), and
the real ``otelfuse replay`` command between service runs.

1. Mixed traffic in two projects with a custom model priced X (``/api/public/models``).
2. Price changed to Y in one project; ``replay`` → every affected generation costs Y, counts
   unchanged, no id twice in any read endpoint, scores unchanged, the other project untouched;
   a second replay changes nothing.
3. ClickHouse's folder deleted (volume lost); ``replay --with-scores`` of both projects → every
   read endpoint returns the same JSON as before (bookkeeping ``createdAt``/``updatedAt`` aside:
   they are the time of the rebuild).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from storage.archive.format import decode_object
from tests.support.service import Service, basic_auth, otelfuse_cli, start_service

pytestmark = [pytest.mark.service, pytest.mark.timeout(600)]

MODEL = "acme-replay"
PRICE_X = {"inputPrice": 0.001, "outputPrice": 0.002}
PRICE_Y = {"inputPrice": 0.003, "outputPrice": 0.004}
COST_X = Decimal("1.4")  # 1000 input and 200 output tokens
COST_Y = Decimal("3.8")
NOW_NS = time.time_ns()


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def _span(trace: int, span: int, name: str, parent: int | None = None, model: str = "") -> Any:
    start = NOW_NS - 60_000_000_000 + trace * 1_000_000_000 + span * 1_000_000
    body: dict[str, Any] = {
        "traceId": f"{trace:032x}",
        "spanId": f"{span:016x}",
        "name": name,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 500_000_000),
        "attributes": [_attr("langfuse.session.id", f"session-{trace % 2}")],
    }
    if parent is not None:
        body["parentSpanId"] = f"{parent:016x}"
    if model:
        body["attributes"] += [
            _attr("gen_ai.operation.name", "chat"),
            _attr("gen_ai.request.model", model),
            _attr("gen_ai.usage.input_tokens", 1000),
            _attr("gen_ai.usage.output_tokens", 200),
        ]
    return body


def _export(spans: list[Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}


def _trace(trace: int) -> list[Any]:
    root = trace * 100
    return [
        _span(trace, root, "agent"),
        _span(trace, root + 1, "answer", root, MODEL),
        _span(trace, root + 2, "summarise", root, "gpt-4o"),
    ]


class Project:
    def __init__(self, service: Service, project_id: str, public: str, secret: str) -> None:
        self.service, self.id = service, project_id
        self.auth = basic_auth(public, secret)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": self.auth, **kwargs.pop("headers", {})}
        return self.service.client.request(method, path, headers=headers, **kwargs)

    def json(self, path: str, params: Any = None) -> Any:
        response = self.request("GET", path, params=params)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()


def _ingest(a: Project, b: Project) -> dict[str, str]:
    for trace in (1, 2, 3):
        sent = a.request("POST", "/v1/traces", json=_export(_trace(trace)))
        assert sent.status_code == 200, sent.text
    grpc_request = json_format.ParseDict(
        _convert_ids(_export(_trace(4))), trace_service_pb2.ExportTraceServiceRequest()
    )
    with grpc.insecure_channel(a.service.grpc_target) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        stub.Export(grpc_request, metadata=[("authorization", a.auth)], timeout=30)
    started = datetime.fromtimestamp(NOW_NS / 1e9, UTC).isoformat().replace("+00:00", "Z")
    batch = {
        "batch": [
            {
                "id": "ev-1",
                "type": "trace-create",
                "timestamp": started,
                "body": {"id": "trace-ingest", "name": "ingested", "userId": "u-1"},
            },
            {
                "id": "ev-2",
                "type": "generation-create",
                "timestamp": started,
                "body": {
                    "id": "gen-ingest",
                    "traceId": "trace-ingest",
                    "name": "sdk generation",
                    "startTime": started,
                    "model": MODEL,
                    "usageDetails": {"input": 1000, "output": 200},
                },
            },
            {
                "id": "ev-3",
                "type": "generation-update",
                "timestamp": started,
                "body": {"id": "gen-ingest", "traceId": "trace-ingest", "endTime": started},
            },
        ]
    }
    sent = a.request("POST", "/api/public/ingestion", json=batch)
    assert sent.status_code == 207 and not sent.json()["errors"], sent.text
    score = a.request(
        "POST",
        "/api/public/scores",
        json={"traceId": f"{1:032x}", "name": "quality", "value": 0.9, "id": "score-1"},
    )
    assert score.status_code == 200, score.text
    sent = b.request("POST", "/v1/traces", json=_export(_trace(7)))
    assert sent.status_code == 200, sent.text
    return {"score": "score-1"}


def _convert_ids(export: dict[str, Any]) -> dict[str, Any]:
    """OTLP/JSON hex ids -> the base64 that protobuf's JSON mapping expects."""
    import base64

    for span in export["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in span:
                span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return export


def _generations(project: Project) -> dict[str, Any]:
    data = project.json("/api/public/observations", {"limit": 100})["data"]
    ids = [o["id"] for o in data]
    assert len(ids) == len(set(ids)), "an observation id twice"
    return {o["id"]: o for o in data}


def _snapshot(project: Project) -> dict[str, Any]:
    """Every read endpoint's JSON for ``project`` (lists and the single-item routes)."""
    traces = project.json("/api/public/traces", {"limit": 100})
    observations = project.json("/api/public/observations", {"limit": 100})
    out: dict[str, Any] = {
        "traces": traces,
        "observations": observations,
        "observations_v2": project.json(
            "/api/public/v2/observations", {"limit": 100, "fields": "core,basic,usage,time"}
        ),
        "sessions": project.json("/api/public/sessions"),
        "scores": project.json("/api/public/v2/scores"),
        "daily": project.json("/api/public/metrics/daily"),
    }
    for trace in traces["data"]:
        out[f"trace {trace['id']}"] = project.json(f"/api/public/traces/{trace['id']}")
    for observation in observations["data"]:
        out[f"observation {observation['id']}"] = project.json(
            f"/api/public/observations/{observation['id']}"
        )
    for session in out["sessions"]["data"]:
        out[f"session {session['id']}"] = project.json(f"/api/public/sessions/{session['id']}")
    cleaned: dict[str, Any] = _without_bookkeeping(out)
    return cleaned


def _without_bookkeeping(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_bookkeeping(v)
            for k, v in value.items()
            if k not in ("createdAt", "updatedAt")
        }
    if isinstance(value, list):
        return [_without_bookkeeping(v) for v in value]
    return value


def _replay(service_env: dict[str, str], project: str, *extra: str) -> dict[str, Any]:
    start = datetime.fromtimestamp(NOW_NS / 1e9, UTC) - timedelta(hours=1)
    end = datetime.now(UTC) + timedelta(minutes=5)
    window = ["--from", start.isoformat(), "--to", end.isoformat()]
    result = otelfuse_cli(["replay", "--project", project, *window, "--json", *extra], service_env)
    assert "replay: objects" in result.stderr  # progress
    summary: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return summary


def test_replay_reprices_and_rebuilds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {
        "OTELFUSE_MODEL_CACHE_TTL_S": "1",
        "OTELFUSE_AUTH_CACHE_TTL_S": "1",
        "OTELFUSE_ARCHIVE_OBJECT_MAX_AGE_S": "0.5",
    }
    service = start_service(data, env)
    env["OTELFUSE_INIT_PROJECT_SECRET_KEY"] = service.secret_key  # the same key on restarts
    service_env = {
        "OTELFUSE_DATA_DIR": str(data),
        "OTELFUSE_INIT_PROJECT_ID": service.project_id,
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": service.public_key,
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": service.secret_key,
        **env,
    }
    try:
        otelfuse_cli(["projects", "create", "--name", "B", "--id", "proj-b"], service_env)
        key_b = json.loads(
            otelfuse_cli(["keys", "create", "--project", "proj-b", "--json"], service_env).stdout
        )
        a = Project(service, service.project_id, service.public_key, service.secret_key)
        b = Project(service, "proj-b", key_b["publicKey"], key_b["secretKey"])
        models = {}
        for project in (a, b):
            body = {"modelName": MODEL, "matchPattern": f"^{MODEL}$", "unit": "TOKENS", **PRICE_X}
            created = project.request("POST", "/api/public/models", json=body)
            assert created.status_code == 200, created.text
            models[project.id] = created.json()["id"]
        time.sleep(1.2)  # model cache
        _ingest(a, b)
        before_a, before_b = _generations(a), _generations(b)
        priced = {i for i, o in before_a.items() if o.get("model") == MODEL}
        assert len(priced) == 5  # four OTLP traces and the ingested generation
        assert {Decimal(str(before_a[i]["calculatedTotalCost"])) for i in priced} == {COST_X}
        scores_before = a.json("/api/public/v2/scores")
        deadline = time.monotonic() + 10  # written in the background, not only at stop
        while time.monotonic() < deadline and not list((data / "blobs").rglob("*.zst")):
            time.sleep(0.1)
        assert list((data / "blobs" / "raw" / "v1" / a.id).rglob("*.zst"))
        body = {"modelName": MODEL, "matchPattern": f"^{MODEL}$", "unit": "TOKENS", **PRICE_Y}
        put = a.request("PUT", f"/api/public/models/{models[a.id]}", json=body)
        assert put.status_code == 200, put.text
    finally:
        assert service.stop() == 0, service.log()

    archived = sorted((data / "blobs" / "raw" / "v1").rglob("*.zst"))
    kinds: dict[str, list[int]] = {}
    for path in archived:
        for request in decode_object(path.read_bytes()):
            kinds.setdefault(request.project_id, []).append(request.kind)
    assert sorted(kinds[a.id]) == [1, 1, 1, 1, 3, 4]  # 4 trace exports, ingestion, scores
    assert kinds["proj-b"] == [1]

    summary = _replay(service_env, a.id)
    assert summary["requests"] == 6 and summary["duplicates"] == 0
    assert summary["observationsChanged"] == 5
    cost = summary["models"][MODEL]
    assert Decimal(cost["costBefore"]) == 5 * COST_X and Decimal(cost["costAfter"]) == 5 * COST_Y
    again = _replay(service_env, a.id)
    assert again["observationsChanged"] == 0 and again["records"] == summary["records"]

    service = start_service(data, env)
    try:
        a = Project(service, a.id, service.public_key, service.secret_key)
        b = Project(service, "proj-b", key_b["publicKey"], key_b["secretKey"])
        after_a, after_b = _generations(a), _generations(b)
        assert after_a.keys() == before_a.keys()
        assert {Decimal(str(after_a[i]["calculatedTotalCost"])) for i in priced} == {COST_Y}
        for observation_id in set(after_a) - priced:
            assert (
                after_a[observation_id]["calculatedTotalCost"]
                == (before_a[observation_id]["calculatedTotalCost"])
            )
        assert _without_bookkeeping(after_b) == _without_bookkeeping(before_b)
        assert a.json("/api/public/v2/scores") == scores_before
        snapshot = {project.id: _snapshot(project) for project in (a, b)}
        assert len(snapshot[a.id]["observations"]["data"]) == 13
        assert len(snapshot[a.id]["traces"]["data"]) == 5
        assert len(snapshot[a.id]["scores"]["data"]) == 1
        assert len(snapshot[a.id]["sessions"]["data"]) == 2
        assert len(snapshot["proj-b"]["observations"]["data"]) == 3
    finally:
        assert service.stop() == 0, service.log()

    shutil.rmtree(data / "clickhouse")  # the ClickHouse volume is lost
    for project_id in (a.id, "proj-b"):
        rebuilt = _replay(service_env, project_id, "--with-scores")
        assert rebuilt["duplicates"] == 0
    service = start_service(data, env)
    try:
        a = Project(service, a.id, service.public_key, service.secret_key)
        b = Project(service, "proj-b", key_b["publicKey"], key_b["secretKey"])
        for project in (a, b):
            assert _snapshot(project) == snapshot[project.id]
    finally:
        assert service.stop() == 0, service.log()


def test_archive_off_opt_out_prune_and_a_running_service(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = start_service(data, {"OTELFUSE_ARCHIVE_ENABLED": "false"})
    env = {
        "OTELFUSE_DATA_DIR": str(data),
        "OTELFUSE_INIT_PROJECT_ID": service.project_id,
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": service.public_key,
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": service.secret_key,
    }
    try:
        a = Project(service, service.project_id, service.public_key, service.secret_key)
        assert a.request("POST", "/v1/traces", json=_export(_trace(1))).status_code == 200
        # embedded ClickHouse belongs to the running service: replay refuses, clearly
        start = datetime.now(UTC) - timedelta(hours=1)
        window = ["--from", start.isoformat(), "--to", datetime.now(UTC).isoformat()]
        busy = otelfuse_cli(["replay", "--project", a.id, *window], env, check=False)
        assert busy.returncode == 1 and "Traceback" not in busy.stderr, busy.stderr
        assert "stop `otelfuse run`" in busy.stderr
    finally:
        assert service.stop() == 0, service.log()
    assert not (data / "blobs" / "raw").exists()
    dry = otelfuse_cli(["replay", "--project", a.id, *window, "--dry-run", "--json"], env)
    assert json.loads(dry.stdout[dry.stdout.index("{") :])["requests"] == 0
    pruned = otelfuse_cli(["archive", "prune", "--older-than-days", "1"], env)
    assert pruned.stdout.startswith("deleted 0 archive objects")
