"""Scores against a real ``otelfuse run``: the Langfuse Python SDK 5 (create_score, span.score,
span.score_trace, and its own ``api.scores.get_many`` read), raw ``POST /api/public/scores``
(single object, arrays with invalid items, validation errors, redelivery) and the read API
``GET /api/public/v2/scores``, ``/v2/scores/{id}``, ``/v3/scores`` (docs/reference/langfuse.md §5).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

from tests.support.service import REPO, Service, basic_auth


def _post(service: Service, body: Any, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": service.authorization, **kwargs.pop("headers", {})}
    return service.client.post("/api/public/scores", json=body, headers=headers, **kwargs)


def _scores(service: Service, **params: Any) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = service.get_json("/api/public/v2/scores", params)["data"]
    return data


def _trace_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
def sdk_run(service: Service) -> dict[str, Any]:
    """Run tests/clients/langfuse_scores.py once against the service."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.clients.langfuse_scores"],
        cwd=REPO,
        env={
            **os.environ,
            "LANGFUSE_BASE_URL": service.http_url,
            "LANGFUSE_PUBLIC_KEY": service.public_key,
            "LANGFUSE_SECRET_KEY": service.secret_key,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "dropped" not in result.stderr and "rejected" not in result.stderr, result.stderr
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def test_sdk_scores_read_back_with_the_sdk(sdk_run: dict[str, Any]) -> None:
    trace_id, observation_id = sdk_run["trace_id"], sdk_run["observation_id"]
    by_name = {s["name"]: s for s in sdk_run["sdk_scores"]}
    assert sorted(by_name) == ["accuracy", "correct", "helpful", "relevance", "tone"]
    accuracy = by_name["accuracy"]
    assert accuracy["id"] == "sdk-accuracy" and accuracy["dataType"] == "NUMERIC"
    assert accuracy["value"] == 0.92 and accuracy["comment"] == "high"
    assert accuracy["metadata"] == {"judge": "human", "round": 2}
    assert accuracy["subject"] == {"kind": "trace", "id": trace_id}
    assert accuracy["environment"] == "production" and accuracy["source"] == "API"
    assert (by_name["correct"]["dataType"], by_name["correct"]["value"]) == ("BOOLEAN", True)
    assert by_name["correct"]["subject"] == {
        "kind": "observation",
        "id": observation_id,
        "traceId": trace_id,
    }
    assert (by_name["helpful"]["dataType"], by_name["helpful"]["value"]) == ("BOOLEAN", False)
    assert (by_name["tone"]["dataType"], by_name["tone"]["value"]) == ("CATEGORICAL", "friendly")
    assert by_name["relevance"]["subject"]["kind"] == "observation"
    [session] = sdk_run["sdk_session_scores"]
    assert session["subject"] == {"kind": "session", "id": sdk_run["session_id"]}
    assert session["value"] == "good"


def test_sdk_scores_in_the_v2_api(service: Service, sdk_run: dict[str, Any]) -> None:
    trace_id, observation_id = sdk_run["trace_id"], sdk_run["observation_id"]
    scores = {s["name"]: s for s in _scores(service, traceId=trace_id)}
    assert len(scores) == 5
    correct = scores["correct"]
    assert (correct["value"], correct["stringValue"], correct["dataType"]) == (
        1.0,
        "True",
        "BOOLEAN",
    )
    assert correct["observationId"] == observation_id and correct["comment"] == "checked"
    tone = scores["tone"]
    assert (tone["value"], tone["stringValue"], tone["dataType"]) == (
        0.0,
        "friendly",
        "CATEGORICAL",
    )
    accuracy = scores["accuracy"]
    assert accuracy["value"] == 0.92 and "stringValue" not in accuracy
    assert accuracy["trace"] == {
        "userId": None,
        "tags": [],
        "environment": "production",
        "sessionId": None,
    }
    for key in ("id", "timestamp", "createdAt", "updatedAt", "source", "environment", "configId"):
        assert key in accuracy
    on_generation = _scores(service, traceId=trace_id, observationId=observation_id)
    assert sorted(s["name"] for s in on_generation) == ["correct", "relevance"]
    single = service.get_json("/api/public/v2/scores/sdk-accuracy")
    assert single["name"] == "accuracy" and "trace" not in single
    [session] = _scores(service, sessionId=sdk_run["session_id"])
    assert session["traceId"] is None and session["trace"] is None


def test_single_score_answers_its_id(service: Service) -> None:
    trace_id = _trace_id()
    response = _post(service, {"traceId": trace_id, "name": "quality", "value": 3})
    assert response.status_code == 200, response.text
    score_id = response.json()["id"]
    uuid.UUID(score_id)  # generated uuid4
    response = _post(
        service, {"id": "my-id-" + trace_id, "traceId": trace_id, "name": "q2", "value": "a"}
    )
    assert response.json() == {"id": "my-id-" + trace_id}
    by_id = {s["id"]: s for s in _scores(service, traceId=trace_id)}
    assert by_id[score_id]["value"] == 3.0 and by_id[score_id]["dataType"] == "NUMERIC"
    assert by_id["my-id-" + trace_id]["stringValue"] == "a"


def test_array_of_valid_scores_is_accepted(service: Service) -> None:
    trace_id = _trace_id()
    body = [
        {"traceId": trace_id, "name": "a", "value": 1},
        {"traceId": trace_id, "name": "b", "value": True, "dataType": "BOOLEAN"},
        {"sessionId": "s-" + trace_id, "name": "c", "value": "x"},
    ]
    response = _post(service, body)
    assert response.status_code == 202 and response.json() == {"message": "Accepted"}
    assert len(_scores(service, traceId=trace_id)) == 2
    assert len(_scores(service, sessionId="s-" + trace_id)) == 1


def test_array_with_invalid_items_is_207(service: Service) -> None:
    trace_id = _trace_id()
    body = [
        {"traceId": trace_id, "name": "ok-1", "value": 0.5},
        {"traceId": trace_id, "value": 1},
        {"traceId": trace_id, "name": "bad-bool", "value": 2, "dataType": "BOOLEAN"},
        {"traceId": trace_id, "name": "ok-2", "value": "fine"},
        {"traceId": trace_id, "name": "eval", "value": 1, "source": "EVAL"},
        "not a score",
    ]
    response = _post(service, body)
    assert response.status_code == 207, response.text
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (2, 4)
    errors = {e["index"]: e["message"] for e in result["errors"]}
    assert sorted(errors) == [1, 2, 4, 5]
    assert "name" in errors[1] and "BOOLEAN" in errors[2] and "EVAL" in errors[4]
    assert sorted(s["name"] for s in _scores(service, traceId=trace_id)) == ["ok-1", "ok-2"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"traceId": "t", "value": 1}, "name"),
        ({"traceId": "t", "name": "n", "value": "x", "dataType": "NUMERIC"}, "NUMERIC"),
        (
            {"traceId": "t", "name": "n", "value": 1, "dataType": "BOOLEAN", "source": "EVAL"},
            "source",
        ),
        ({"name": "n", "value": 1}, "traceId"),
        ({"traceId": "t", "name": "n", "value": 1, "timestamp": "noon"}, "timestamp"),
    ],
)
def test_invalid_single_score_is_400(service: Service, body: dict[str, Any], field: str) -> None:
    response = _post(service, body)
    assert response.status_code == 400
    assert field in response.json()["message"]


def test_request_errors(service: Service) -> None:
    headers = {"Authorization": service.authorization, "Content-Type": "application/json"}
    response = service.client.post("/api/public/scores", content=b"{nope", headers=headers)
    assert response.status_code == 400 and "JSON" in response.json()["message"]
    response = _post(service, 42)
    assert response.status_code == 400
    response = service.client.post("/api/public/scores", json=[])
    assert response.status_code == 401
    bad = basic_auth(service.public_key, "sk-wrong")
    assert service.get("/api/public/v2/scores", auth=bad).status_code == 401


def test_redelivery_does_not_duplicate(service: Service) -> None:
    trace_id = _trace_id()
    body = [
        {"id": f"r1-{trace_id}", "traceId": trace_id, "name": "n", "value": 1},  # no timestamp
        {
            "id": f"r2-{trace_id}",
            "traceId": trace_id,
            "name": "m",
            "value": 2,
            "timestamp": "2025-11-22T00:06:40Z",
        },
    ]
    assert _post(service, body).status_code == 202
    first = {s["id"]: s for s in _scores(service, traceId=trace_id)}
    assert _post(service, body).status_code == 202
    again = {s["id"]: s for s in _scores(service, traceId=trace_id)}
    assert again == first  # same rows, same timestamps and updatedAt
    # an update of the same id keeps its timestamp and replaces the value
    body[0]["value"] = 5
    body[1]["name"] = "renamed"  # a different sort key: the old row is tombstoned
    assert _post(service, body).status_code == 202
    updated = {s["id"]: s for s in _scores(service, traceId=trace_id)}
    assert len(updated) == 2
    assert updated[f"r1-{trace_id}"]["value"] == 5.0
    assert updated[f"r1-{trace_id}"]["timestamp"] == first[f"r1-{trace_id}"]["timestamp"]
    assert updated[f"r2-{trace_id}"]["name"] == "renamed"
    assert updated[f"r2-{trace_id}"]["createdAt"] == first[f"r2-{trace_id}"]["createdAt"]


def _ingest(service: Service, *events: dict[str, Any]) -> httpx.Response:
    return service.client.post(
        "/api/public/ingestion",
        json={"batch": list(events)},
        headers={"Authorization": service.authorization},
    )


def test_v2_filters(service: Service) -> None:
    trace_id = _trace_id()
    trace = {"id": trace_id, "userId": "filter-user", "tags": ["x", "y"], "environment": "stage"}
    event = {"id": "e-" + trace_id, "timestamp": "2025-11-22T00:00:00Z", "type": "trace-create"}
    assert _ingest(service, {**event, "body": trace}).status_code == 207
    body = [
        {"id": f"a-{trace_id}", "traceId": trace_id, "name": "len", "value": 10,
         "timestamp": "2025-11-22T00:00:01Z", "environment": "stage", "configId": "cfg"},
        {"id": f"b-{trace_id}", "traceId": trace_id, "name": "len", "value": 30,
         "timestamp": "2025-11-22T00:00:02Z", "source": "ANNOTATION"},
        {"id": f"c-{trace_id}", "traceId": trace_id, "name": "ok", "value": 1,
         "dataType": "BOOLEAN", "timestamp": "2025-11-22T00:00:03Z"},
    ]  # fmt: skip
    assert _post(service, body).status_code == 202

    def ids(**params: Any) -> list[str]:
        return [s["id"][0] for s in _scores(service, traceId=trace_id, **params)]

    assert ids() == ["c", "b", "a"]  # newest first
    assert ids(name="len") == ["b", "a"]
    assert ids(operator=">", value="15") == ["b"]
    assert ids(operator="<=", value="10") == ["c", "a"]
    assert ids(dataType="BOOLEAN") == ["c"]
    assert ids(source="ANNOTATION") == ["b"]
    assert ids(environment=["stage", "other"]) == ["a"]
    assert ids(configId="cfg") == ["a"]
    assert ids(scoreIds=f"a-{trace_id},c-{trace_id}") == ["c", "a"]
    assert ids(fromTimestamp="2025-11-22T00:00:02Z") == ["c", "b"]
    assert ids(toTimestamp="2025-11-22T00:00:02Z") == ["a"]
    assert ids(userId="filter-user") == ["c", "b", "a"]
    assert ids(userId="someone-else") == []
    assert ids(traceTags=["x", "y"]) == ["c", "b", "a"]
    assert ids(traceTags=["x", "z"]) == []
    page = service.get_json("/api/public/v2/scores", {"traceId": trace_id, "limit": 2, "page": 2})
    assert [s["id"][0] for s in page["data"]] == ["a"]
    assert page["meta"] == {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2}
    [first] = _scores(service, traceId=trace_id, fields="score", limit=1)
    assert "trace" not in first
    [with_trace] = _scores(service, traceId=trace_id, limit=1)
    assert with_trace["trace"]["userId"] == "filter-user" and with_trace["trace"]["tags"] == [
        "x",
        "y",
    ]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/public/v2/scores", {"limit": 101}, "limit"),
        ("/api/public/v2/scores", {"operator": ">"}, "operator and value"),
        ("/api/public/v2/scores", {"operator": "~", "value": 1}, "operator must be"),
        ("/api/public/v2/scores", {"dataType": "FLOAT"}, "dataType"),
        ("/api/public/v3/scores", {"observationId": "o"}, "observationId requires traceId"),
        ("/api/public/v3/scores", {"value": "1"}, "dataType"),
        ("/api/public/v3/scores", {"cursor": "garbage"}, "cursor"),
        ("/api/public/v3/scores", {"fields": "everything"}, "fields"),
    ],
)
def test_read_parameter_errors(
    service: Service, path: str, params: dict[str, Any], message: str
) -> None:
    response = service.get(path, params)
    assert response.status_code == 400 and message in response.json()["message"]


def test_unknown_score_is_404(service: Service) -> None:
    assert service.get("/api/public/v2/scores/does-not-exist").status_code == 404


def test_v3_value_filters(service: Service) -> None:
    trace_id = _trace_id()
    body = [
        {"traceId": trace_id, "name": "n", "value": 0.2},
        {"traceId": trace_id, "name": "n", "value": 0.8},
        {"traceId": trace_id, "name": "b", "value": 1, "dataType": "BOOLEAN"},
        {"traceId": trace_id, "name": "c", "value": "red"},
    ]
    assert _post(service, body).status_code == 202

    def values(**params: Any) -> list[Any]:
        data = service.get_json("/api/public/v3/scores", {"traceId": trace_id, **params})["data"]
        return sorted(str(s["value"]) for s in data)

    assert values(dataType="NUMERIC", valueMin=0.5) == ["0.8"]
    assert values(dataType="numeric", value="0.2,0.8") == ["0.2", "0.8"]
    assert values(dataType="BOOLEAN", value="true") == ["True"]
    assert values(dataType="CATEGORICAL", value="red") == ["red"]
    assert values(name="n,c") == ["0.2", "0.8", "red"]


@pytest.mark.parametrize(
    "payload", [b'{"t": 1e30, "i": "x"}', b'{"t": 99999999999999999999999, "i": "x"}', b"[1]",
                b'{"t": "1", "i": "x"}', b'{"t": 1763770000000000, "i": 5}']
)  # fmt: skip
def test_forged_cursors_are_400(service: Service, payload: bytes) -> None:
    cursor = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    response = service.get("/api/public/v3/scores", {"cursor": cursor})
    assert response.status_code == 400, response.text


def test_trace_detail_lists_its_scores(service: Service, sdk_run: dict[str, Any]) -> None:
    """GET /api/public/traces/{id} carries the trace's scores (ScoreV1), observation scores
    included; the session score is not the trace's."""
    trace = service.get_json(f"/api/public/traces/{sdk_run['trace_id']}")
    by_name = {s["name"]: s for s in trace["scores"]}
    assert sorted(by_name) == ["accuracy", "correct", "helpful", "relevance", "tone"]
    assert by_name["accuracy"]["value"] == 0.92
    assert by_name["correct"]["observationId"] == sdk_run["observation_id"]
    assert by_name["helpful"]["stringValue"] == "False"
