"""Public read API routes against real chdb, through Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from storage.auth import Project, StaticKeyStore, hash_secret
from storage.errors import RetryableError
from storage.query.repository import Repository
from tests.ingest.api.read_api import Api, basic, make_app, seed
from tests.support.fakes import FailingClient
from tests.support.records import new_id, record


def ids(body: Mapping[str, Any]) -> list[str]:
    return [item["id"] for item in body["data"]]


def test_health(api: Api) -> None:
    response = api.client.get("/api/public/health")
    assert response.status_code == 200
    assert response.json() == {"status": "OK", "version": "0.1.0"}


def test_storage_down_gives_503() -> None:
    keys = StaticKeyStore([("pk", hash_secret("sk"), Project("p"))])
    with make_app(
        Repository(FailingClient(RetryableError("down", retry_after_s=2.5))), keys
    ) as client:
        health = client.get("/api/public/health")
        assert health.status_code == 503
        assert health.json()["version"] == "0.1.0"
        traces = client.get("/api/public/traces", headers=basic("pk", "sk"))
        assert traces.status_code == 503
        assert traces.headers["retry-after"] == "3"
        assert traces.json() == {"message": "storage unavailable, retry later"}


def test_projects_needs_auth(api: Api) -> None:
    assert api.client.get("/api/public/projects").status_code == 401
    body = api.get("/api/public/projects").json()
    organization = {"id": "otelfuse", "name": "otelfuse"}
    assert body == {
        "data": [
            {"id": api.project_a, "name": "Project A", "organization": organization, "metadata": {}}
        ]
    }


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic not-base64!"},
        basic("pk-unknown", "sk-a"),
    ],
)
def test_401(api: Api, headers: dict[str, str]) -> None:
    for path in ("/api/public/traces", "/api/public/observations", "/api/public/traces/x"):
        response = api.client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.json()["message"]


def test_wrong_secret_is_401(api: Api) -> None:
    response = api.get("/api/public/traces", auth=basic(f"pk-{api.project_a}", "sk-b"))
    assert response.status_code == 401
    assert response.json() == {"message": "invalid API key pair"}


def test_trace_list_items_and_meta(api: Api) -> None:
    s = seed(api)
    body = api.get("/api/public/traces").json()
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1}
    assert ids(body) == [s.t3, s.t2, s.t1]  # timestamp.desc by default
    first = body["data"][2]
    assert first == {
        "id": s.t1,
        "projectId": api.project_a,
        "timestamp": "2025-11-22T00:06:39.623456Z",
        "name": "qa",
        "input": {"question": "why"},
        "output": "plain answer",
        "sessionId": "s-1",
        "release": "r1",
        "version": "v1",
        "userId": "alice",
        "metadata": {"route": "/ask", "raw": "not json {"},
        "tags": ["beta", "rag"],
        "public": False,
        "bookmarked": False,
        "environment": "production",
        "externalId": None,
        "createdAt": first["createdAt"],
        "updatedAt": first["updatedAt"],
        "htmlPath": f"/project/{api.project_a}/traces/{s.t1}",
        "latency": 2.0,
        "totalCost": 0.006525000001,
        "observations": [s.root1, s.gen1],
        "scores": [],
    }
    assert first["createdAt"].endswith("Z") and first["updatedAt"] >= first["createdAt"]


def test_trace_filters(api: Api) -> None:
    s = seed(api)

    def query(**params: Any) -> list[str]:
        response = api.get("/api/public/traces", params=params)
        assert response.status_code == 200, response.text
        return ids(response.json())

    assert set(query(userId="alice")) == {s.t1, s.t3}
    assert query(name="ingest") == [s.t2]
    assert query(sessionId="s-1") == [s.t1]
    assert query(tags=["rag"]) == [s.t2, s.t1]
    assert query(tags=["rag", "beta"]) == [s.t1]  # ALL must match
    assert query(tags=["rag", "nope"]) == []
    assert query(environment=["staging"]) == [s.t2]
    assert query(environment=["staging", "production"]) == [s.t2, s.t1]
    assert query(version="v2") == [s.t2]
    assert query(release="r1") == [s.t1]
    assert query(fromTimestamp="2025-11-22T00:07:40.123456Z") == [s.t3, s.t2]  # >=
    assert query(toTimestamp="2025-11-22T00:07:40.123456Z") == [s.t1]  # <
    assert query(fromTimestamp="2025-11-22T00:07:00Z", toTimestamp="2025-11-22T00:08:00Z") == [s.t2]
    assert query(orderBy="name.asc") == [s.t3, s.t2, s.t1]  # batch, ingest, qa
    assert query(orderBy="timestamp.asc") == [s.t1, s.t2, s.t3]
    assert query(orderBy="public.desc")[0] == s.t3
    alices = sorted([s.t1, s.t3])  # ties are broken by id, in the same direction
    assert query(orderBy="userId.asc") == [*alices, s.t2]
    assert query(orderBy="userId.desc") == [s.t2, *reversed(alices)]
    assert query(orderBy="id.asc") == sorted([s.t1, s.t2, s.t3])


def test_trace_pagination(api: Api) -> None:
    s = seed(api)
    page1 = api.get("/api/public/traces", params={"limit": 2}).json()
    page2 = api.get("/api/public/traces", params={"limit": 2, "page": 2}).json()
    page9 = api.get("/api/public/traces", params={"limit": 2, "page": 9}).json()
    assert page1["meta"] == {"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert page2["meta"] == {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert ids(page1) + ids(page2) == [s.t3, s.t2, s.t1]
    assert page9["data"] == [] and page9["meta"]["totalItems"] == 3


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/public/traces", {"page": "abc"}, "page must be an integer"),
        ("/api/public/traces", {"page": "0"}, "page must be >= 1"),
        ("/api/public/traces", {"limit": "0"}, "limit must be between 1 and 100"),
        ("/api/public/traces", {"limit": "101"}, "limit must be between 1 and 100"),
        ("/api/public/traces", {"fromTimestamp": "yesterday"}, "fromTimestamp must be an ISO"),
        ("/api/public/traces", {"toTimestamp": "2025-13-01"}, "toTimestamp must be an ISO"),
        ("/api/public/traces", {"orderBy": "cost.asc"}, "orderBy must be"),
        ("/api/public/traces", {"orderBy": "name.sideways"}, "orderBy must be"),
        ("/api/public/traces", {"orderBy": "name"}, "orderBy must be"),
        ("/api/public/observations", {"limit": "x"}, "limit must be an integer"),
        ("/api/public/observations", {"fromStartTime": "nope"}, "fromStartTime must be an ISO"),
    ],
)
def test_400(api: Api, path: str, params: dict[str, str], message: str) -> None:
    response = api.get(path, params=params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


def test_trace_detail(api: Api) -> None:
    s = seed(api)
    body = api.get(f"/api/public/traces/{s.t1}").json()
    assert body["id"] == s.t1
    assert body["htmlPath"] == f"/project/{api.project_a}/traces/{s.t1}"
    assert body["totalCost"] == 0.006525000001
    assert body["latency"] == 2.0
    assert body["scores"] == []
    assert [o["id"] for o in body["observations"]] == [s.root1, s.gen1]
    generation_view = body["observations"][1]
    assert generation_view == api.get(f"/api/public/observations/{s.gen1}").json()


def test_observation_view_shape(api: Api) -> None:
    s = seed(api)
    view = api.get(f"/api/public/observations/{s.gen1}").json()
    assert view == {
        "id": s.gen1,
        "projectId": api.project_a,
        "traceId": s.t1,
        "parentObservationId": s.root1,
        "name": "chat gpt-4o",
        "type": "GENERATION",
        "environment": "production",
        "startTime": "2025-11-22T00:06:40.123456Z",
        "endTime": "2025-11-22T00:06:40.373457Z",
        "completionStartTime": "2025-11-22T00:06:40.243463Z",
        "version": "v7",
        "release": "2025.11.1",
        "createdAt": view["createdAt"],
        "updatedAt": view["updatedAt"],
        "input": [{"role": "user", "content": "Summarise the quarterly report. " * 30}],
        "output": {"role": "assistant", "content": "The report shows growth. " * 40},
        "metadata": {"customer": "acme", "attempt": 2, "flags": {"beta": True}},
        "level": "WARNING",
        "statusMessage": "rate limited once",
        "model": "gpt-4o",
        "modelParameters": {"temperature": 0.2, "max_tokens": 512},
        "promptId": "prompt-42",
        "promptName": "summary",
        "promptVersion": 3,
        "usageDetails": {"input": 1200, "output": 340, "input_cached_tokens": 100, "total": 1640},
        "costDetails": {
            "input": 0.003,
            "input_cached_tokens": 0.000125,
            "output": 0.0034,
            "total": 0.006525000001,
        },
        "usage": {"unit": "TOKENS", "input": 1300, "output": 340, "total": 1640},
        "unit": "TOKENS",
        "promptTokens": 1300,
        "completionTokens": 340,
        "totalTokens": 1640,
        "usagePricingTierId": "tier-standard",
        "usagePricingTierName": "Standard",
        "modelId": "gpt-4o",
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "calculatedInputCost": pytest.approx(0.003125),
        "calculatedOutputCost": pytest.approx(0.0034),
        "calculatedTotalCost": 0.006525000001,
        "totalCost": 0.006525000001,
        "latency": 0.250001,
        "timeToFirstToken": 0.120007,
        "usageEstimated": False,
    }


def test_observation_filters_and_meta(api: Api) -> None:
    s = seed(api)

    def query(**params: Any) -> list[str]:
        response = api.get("/api/public/observations", params=params)
        assert response.status_code == 200, response.text
        return ids(response.json())

    everything = api.get("/api/public/observations").json()
    assert everything["meta"] == {"page": 1, "limit": 50, "totalItems": 4, "totalPages": 1}
    assert len(ids(everything)) == 4
    assert ids(everything) == [s.obs3, s.obs2, s.gen1, s.root1]  # newest start first
    assert query(traceId=s.t1) == [s.gen1, s.root1]
    assert query(type="GENERATION") == [s.gen1]
    assert query(type="AGENT", name="batch") == [s.obs3]
    assert query(type="AGENT", name="qa") == []
    assert query(name="qa") == [s.root1]
    assert query(parentObservationId=s.root1) == [s.gen1]
    assert query(level="ERROR") == [s.obs2]
    # userId is the trace's (merged) user: alice is set on the child generation only
    assert query(userId="alice") == [s.obs3, s.gen1, s.root1]
    assert query(userId="bob") == [s.obs2]
    assert query(environment=["production"]) == [s.gen1, s.root1]
    assert query(environment=["production", "staging"]) == [s.obs2, s.gen1, s.root1]
    assert query(version="v7") == [s.gen1]
    assert query(fromStartTime="2025-11-22T00:08:40.123456Z") == [s.obs3]
    assert query(toStartTime="2025-11-22T00:06:40.123456Z") == [s.root1]  # < is exclusive
    assert query(toStartTime="2025-11-22T00:06:40.123457Z") == [s.gen1, s.root1]
    page = api.get("/api/public/observations", params={"limit": 3, "page": 2}).json()
    assert page["meta"] == {"page": 2, "limit": 3, "totalItems": 4, "totalPages": 2}
    assert len(page["data"]) == 1


def test_cross_project_isolation(api: Api) -> None:
    s = seed(api)
    # A's key cannot see B's trace or observation, even by id
    response = api.get(f"/api/public/traces/{s.b_trace}")
    assert response.status_code == 404
    assert response.json() == {"message": f"Trace {s.b_trace} not found within authorized project"}
    b_obs = ids(api.get("/api/public/observations", auth=api.auth_b).json())
    assert len(b_obs) == 1
    assert api.get(f"/api/public/observations/{b_obs[0]}").status_code == 404
    assert s.b_trace not in ids(api.get("/api/public/traces", params={"userId": "alice"}).json())
    assert api.get("/api/public/observations", params={"traceId": s.b_trace}).json()["data"] == []
    # and B sees only its own
    b_traces = api.get("/api/public/traces", auth=api.auth_b).json()
    assert ids(b_traces) == [s.b_trace]
    assert api.get(f"/api/public/traces/{s.t1}", auth=api.auth_b).status_code == 404


def test_unknown_ids_are_404(api: Api) -> None:
    assert api.get("/api/public/traces/does-not-exist").status_code == 404
    response = api.get("/api/public/observations/does-not-exist")
    assert response.status_code == 404
    assert "not found" in response.json()["message"]


def test_filters_see_only_the_latest_trace_version(api: Api) -> None:
    """A trace whose user/session changed must not match the old values (FINAL before WHERE)."""
    p, tid = api.project_a, new_id(32)
    api.writer.write_observations([record(p, tid, trace={"user_id": "old", "session_id": "s-old"})])
    api.writer.write_observations([record(p, tid, trace={"user_id": "new", "session_id": "s-new"})])
    for params in ({"userId": "old"}, {"sessionId": "s-old"}):
        assert api.get("/api/public/traces", params=params).json()["data"] == []
    assert ids(api.get("/api/public/traces", params={"userId": "new"}).json()) == [tid]
    assert api.get("/api/public/observations", params={"userId": "old"}).json()["data"] == []
    assert len(api.get("/api/public/observations", params={"userId": "new"}).json()["data"]) == 2
