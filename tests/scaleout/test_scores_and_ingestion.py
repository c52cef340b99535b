"""Scores and ``/api/public/ingestion`` batches through Kafka (scale-out, issue 5): the Langfuse
Python SDK and plain JSON clients post to the receiver role, records travel on the observations
and scores topics, the processor merges ingestion events onto stored rows, enriches and writes
them, and the query API (``processor --query``) reads them back.

The receiver answers once Kafka acknowledged a request, before the processor wrote it, so every
read here polls until the expected state is visible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from genai_prices import Usage, calc_price

from tests.scaleout.conftest import Stack
from tests.scaleout.load import metric
from tests.support.service import REPO, Service


def _poll(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30) -> Any:
    """``read()`` until ``done(value)``; raises with the last value after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s; last value: {value!r}")
        time.sleep(0.1)
        value = read()
    return value


def _get(query: Service, path: str, **params: Any) -> Any:
    response = query.get(path, params=params)
    return response.json() if response.status_code == 200 else None


def _ingest(receiver: Service, *events: dict[str, Any]) -> httpx.Response:
    return receiver.client.post(
        "/api/public/ingestion",
        json={"batch": list(events)},
        headers={"Authorization": receiver.authorization},
    )


def _event(event_type: str, body: dict[str, Any], at: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "timestamp": at, "type": event_type, "body": body}


def test_sdk_scores_travel_through_kafka(stack: Stack) -> None:
    """Langfuse SDK 5 against the receiver (spans + a JSON array of scores), read back with the
    SDK's own API client from the query API."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.clients.langfuse_scores"],
        cwd=REPO,
        env={
            **os.environ,
            "LANGFUSE_BASE_URL": stack.receiver.http_url,
            "OTELFUSE_QUERY_URL": stack.processor.http_url,
            "LANGFUSE_PUBLIC_KEY": stack.receiver.public_key,
            "LANGFUSE_SECRET_KEY": stack.receiver.secret_key,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "dropped" not in result.stderr and "rejected" not in result.stderr, result.stderr
    run = json.loads(result.stdout.strip().splitlines()[-1])
    by_name = {s["name"]: s for s in run["sdk_scores"]}
    assert sorted(by_name) == ["accuracy", "correct", "helpful", "relevance", "tone"]
    assert by_name["accuracy"]["value"] == 0.92
    assert by_name["accuracy"]["metadata"] == {"judge": "human", "round": 2}
    assert (by_name["correct"]["dataType"], by_name["correct"]["value"]) == ("BOOLEAN", True)
    assert by_name["correct"]["subject"] == {
        "kind": "observation",
        "id": run["observation_id"],
        "traceId": run["trace_id"],
    }
    [session] = run["sdk_session_scores"]
    assert session["subject"] == {"kind": "session", "id": run["session_id"]}
    # the SDK's spans went the OTLP way through the same receiver
    trace = _poll(
        lambda: _get(stack.processor, f"/api/public/traces/{run['trace_id']}"),
        lambda t: t is not None and len(t["observations"]) == 2,
    )
    assert {o["name"] for o in trace["observations"]} == {"scored-request", "scored-generation"}
    assert (
        metric(
            stack.receiver, "otelfuse_receiver_scores_total", endpoint="scores", outcome="accepted"
        )
        >= 6
    )
    assert metric(stack.processor, "otelfuse_processor_scores_total", outcome="success") >= 6


def test_single_score_and_validation_errors(stack: Stack) -> None:
    receiver, trace_id = stack.receiver, uuid.uuid4().hex
    headers = {"Authorization": receiver.authorization}
    posted = receiver.client.post(
        "/api/public/scores",
        json={"traceId": trace_id, "name": "quality", "value": 0.5, "comment": "ok"},
        headers=headers,
    )
    assert posted.status_code == 200, posted.text
    score_id = posted.json()["id"]
    score = _poll(lambda: _get(stack.processor, f"/api/public/v2/scores/{score_id}"), bool)
    assert (score["traceId"], score["name"], score["value"]) == (trace_id, "quality", 0.5)
    assert score["source"] == "API" and score["comment"] == "ok"

    invalid = receiver.client.post(
        "/api/public/scores", json={"traceId": trace_id, "value": 1}, headers=headers
    )
    assert invalid.status_code == 400 and "name" in invalid.json()["message"]
    unauthenticated = receiver.client.post(
        "/api/public/scores", json={"traceId": trace_id, "name": "q", "value": 1}
    )
    assert unauthenticated.status_code == 401


def test_ingestion_events_merge_across_requests_through_kafka(stack: Stack) -> None:
    """Creates in one request, updates (one without ``traceId``, so keyed by the observation id)
    in a later one; a score-create event goes to the scores topic; an invalid event gets its own
    400 while the rest is stored."""
    receiver, query = stack.receiver, stack.processor
    trace_id, span_id, gen_id = f"trace-{uuid.uuid4()}", f"span-{uuid.uuid4()}", str(uuid.uuid4())
    score_id = f"score-{uuid.uuid4()}"
    request_1 = [
        _event(
            "trace-create",
            {
                "id": trace_id,
                "timestamp": "2025-11-22T10:00:00.000Z",
                "name": "legacy-request",
                "userId": "user-1",
                "tags": ["legacy"],
                "metadata": {"team": "search"},
            },
            "2025-11-22T10:00:00.000Z",
        ),
        _event(
            "span-create",
            {
                "id": span_id,
                "traceId": trace_id,
                "name": "retrieve",
                "startTime": "2025-11-22T10:00:00.100Z",
                "endTime": "2025-11-22T10:00:00.300Z",
            },
            "2025-11-22T10:00:00.100Z",
        ),
        _event(
            "generation-create",
            {
                "id": gen_id,
                "traceId": trace_id,
                "parentObservationId": span_id,
                "name": "answer",
                "startTime": "2025-11-22T10:00:00.400Z",
                "model": "gpt-4o",
                "input": [{"role": "user", "content": "What is OTLP?"}],
                "usage": {"input": 1000, "output": 200, "unit": "TOKENS"},
                "metadata": {"attempt": {"n": 1}},
            },
            "2025-11-22T10:00:00.400Z",
        ),
        _event(
            "generation-update",  # same request, same message: merged in one batch
            {"id": gen_id, "traceId": trace_id, "endTime": "2025-11-22T10:00:01.400Z"},
            "2025-11-22T10:00:01.400Z",
        ),
        _event("span-create", {"id": "no-name", "startTime": "not a time"}, "2025-11-22"),
    ]
    answer = _ingest(receiver, *request_1)
    assert answer.status_code == 207, answer.text
    body = answer.json()
    assert sorted(s["id"] for s in body["successes"]) == sorted(e["id"] for e in request_1[:4])
    [error] = body["errors"]
    assert (error["id"], error["status"]) == (request_1[4]["id"], 400)

    def generation() -> Any:
        return _get(query, f"/api/public/observations/{gen_id}")

    _poll(generation, lambda g: g is not None and g["endTime"] is not None)

    request_2 = [
        _event(
            "generation-update",  # no traceId: keyed by the observation id
            {
                "id": gen_id,
                "level": "WARNING",
                "output": {"role": "assistant", "content": "A protocol."},
                "metadata": {"attempt": {"retried": True}},
                "usageDetails": {"output": 250},
            },
            "2025-11-22T10:00:02.000Z",
        ),
        _event(
            "trace-create",  # a later trace-create for the same id updates the trace
            {"id": trace_id, "tags": ["sdk-v2"], "release": "r2"},
            "2025-11-22T10:00:02.000Z",
        ),
        _event(
            "score-create",
            {
                "id": score_id,
                "traceId": trace_id,
                "observationId": gen_id,
                "name": "ok",
                "value": 1,
            },
            "2025-11-22T10:00:02.000Z",
        ),
    ]
    answer = _ingest(receiver, *request_2)
    assert answer.status_code == 207 and answer.json()["errors"] == [], answer.text

    merged = _poll(generation, lambda g: g["level"] == "WARNING")
    assert merged["traceId"] == trace_id and merged["parentObservationId"] == span_id
    assert merged["name"] == "answer" and merged["startTime"] == "2025-11-22T10:00:00.400000Z"
    assert merged["endTime"] == "2025-11-22T10:00:01.400000Z"
    assert merged["input"] == [{"role": "user", "content": "What is OTLP?"}]
    assert merged["output"] == {"role": "assistant", "content": "A protocol."}
    assert merged["metadata"] == {"attempt": {"n": 1, "retried": True}}
    assert merged["usageDetails"] == {"input": 1000, "output": 250, "total": 1250}
    price = calc_price(Usage(input_tokens=1000, output_tokens=250), model_ref="gpt-4o")
    assert Decimal(str(merged["totalCost"])) == Decimal(price.total_price)

    trace = _poll(
        lambda: _get(query, f"/api/public/traces/{trace_id}"),
        lambda t: t is not None and t["release"] == "r2",
    )
    assert trace["name"] == "legacy-request" and trace["userId"] == "user-1"
    assert trace["tags"] == ["legacy", "sdk-v2"] and trace["metadata"] == {"team": "search"}
    assert sorted(o["id"] for o in trace["observations"]) == sorted([span_id, gen_id])

    score = _poll(lambda: _get(query, f"/api/public/v2/scores/{score_id}"), bool)
    assert (score["observationId"], score["dataType"], score["value"]) == (gen_id, "NUMERIC", 1)
