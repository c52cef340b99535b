"""Storage failures on the JSON endpoints: 503 + Retry-After when retryable, 500 / per-event
500 entries when permanent, and nothing answered as success before the write returned."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from ingest.api.ingestion import Ingestion
from ingest.api.scores import ScoreWrites
from storage.auth import Project, StaticKeyStore, hash_secret
from storage.errors import PermanentError, RetryableError
from tests.support.fakes import RecordingSink
from tests.support.http import test_client
from tests.support.service import basic_auth

KEYS = StaticKeyStore([("pk", hash_secret("sk"), Project("p1"))])
AUTH = {"Authorization": basic_auth("pk", "sk")}


def client(sinks: RecordingSink) -> TestClient:
    routes = [
        *ScoreWrites(sinks, KEYS, 1 << 20).routes(),
        *Ingestion(sinks, sinks, KEYS, 1 << 20).routes(),
    ]
    return test_client(routes)


SCORE = {"traceId": "t", "name": "n", "value": 1}
BATCH: dict[str, Any] = {
    "batch": [
        {
            "id": "e1",
            "timestamp": "2025-11-22T00:00:00Z",
            "type": "span-create",
            "body": {"id": "s"},
        },
        {"id": "e2", "timestamp": "2025-11-22T00:00:00Z", "type": "score-create", "body": SCORE},
        {"id": "e3", "timestamp": "2025-11-22T00:00:00Z", "type": "sdk-log", "body": {"log": 1}},
    ]
}


@pytest.mark.parametrize("body", [SCORE, [SCORE]])
def test_scores_storage_down_is_503(body: Any) -> None:
    sinks = RecordingSink(RetryableError("down", retry_after_s=2.5))
    response = client(sinks).post("/api/public/scores", json=body, headers=AUTH)
    assert response.status_code == 503 and response.headers["Retry-After"] == "3"
    assert "retry" in response.json()["message"]


def test_scores_storage_rejects_is_500() -> None:
    sinks = RecordingSink(PermanentError("bad row"))
    response = client(sinks).post("/api/public/scores", json=SCORE, headers=AUTH)
    assert response.status_code == 500 and "bad row" in response.json()["message"]


def test_scores_written_before_answer() -> None:
    sinks = RecordingSink()
    response = client(sinks).post("/api/public/scores", json=[SCORE, SCORE], headers=AUTH)
    assert response.status_code == 202 and len(sinks.scores) == 2


def test_ingestion_storage_down_is_503() -> None:
    sinks = RecordingSink(RetryableError("down"))
    response = client(sinks).post("/api/public/ingestion", json=BATCH, headers=AUTH)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"


def test_ingestion_queue_full_is_503() -> None:
    response = client(RecordingSink(room=False)).post(
        "/api/public/ingestion", json=BATCH, headers=AUTH
    )
    assert response.status_code == 503


def test_ingestion_permanent_failure_is_per_event() -> None:
    sinks = RecordingSink(PermanentError("cannot store"))
    response = client(sinks).post("/api/public/ingestion", json=BATCH, headers=AUTH)
    assert response.status_code == 207
    body = response.json()
    assert body["successes"] == [{"id": "e3", "status": 201}]
    assert sorted((e["id"], e["status"]) for e in body["errors"]) == [("e1", 500), ("e2", 500)]


def test_ingestion_success() -> None:
    sinks = RecordingSink()
    response = client(sinks).post(
        "/api/public/ingestion",
        json=BATCH,
        headers={**AUTH, "x-langfuse-sdk-name": "python", "x-langfuse-sdk-version": "2.1"},
    )
    assert response.status_code == 207
    assert sorted(s["id"] for s in response.json()["successes"]) == ["e1", "e2", "e3"]
    assert response.json()["errors"] == []
    [record] = sinks.records
    assert (record.id, record.ingestion_sdk_name, record.ingestion_sdk_version) == (
        "s",
        "python",
        "2.1",
    )
    assert len(sinks.scores) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [({"batch": "x"}, 400), ([], 400), ({"nobatch": []}, 400)],
)
def test_ingestion_request_errors(body: Any, status: int) -> None:
    response = client(RecordingSink()).post("/api/public/ingestion", json=body, headers=AUTH)
    assert response.status_code == status and "batch" in response.json()["message"]


def test_ingestion_needs_credentials() -> None:
    response = client(RecordingSink()).post("/api/public/ingestion", json=BATCH)
    assert response.status_code == 401


def test_gzip_body_and_size_limit() -> None:
    sinks = RecordingSink()
    app = test_client(ScoreWrites(sinks, KEYS, 200).routes())
    payload = gzip.compress(orjson.dumps(SCORE))
    headers = {**AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert app.post("/api/public/scores", content=payload, headers=headers).status_code == 200
    bomb = gzip.compress(orjson.dumps({**SCORE, "comment": "x" * 10_000}))
    assert app.post("/api/public/scores", content=bomb, headers=headers).status_code == 413
