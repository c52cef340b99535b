"""``POST /api/public/ingestion`` against a real ``otelfuse run`` (docs/reference/langfuse.md §3.2,
§3.4): trace/span/generation create and update events in one request and across requests are
merged, enriched (cost from genai-prices) and readable through the query API; invalid events
get per-event 400 entries while the rest are stored; redelivery changes nothing.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from genai_prices import Usage, calc_price

from tests.support.service import Service


def _ingest(service: Service, *events: dict[str, Any]) -> httpx.Response:
    return service.client.post(
        "/api/public/ingestion",
        json={"batch": list(events), "metadata": {"sdk_integration": "test"}},
        headers={"Authorization": service.authorization, "x-langfuse-sdk-name": "python"},
    )


def _event(event_type: str, body: dict[str, Any], at: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "timestamp": at, "type": event_type, "body": body}


def _ok(response: httpx.Response, *events: dict[str, Any]) -> None:
    assert response.status_code == 207, response.text
    body = response.json()
    assert body["errors"] == []
    assert sorted(s["id"] for s in body["successes"]) == sorted(e["id"] for e in events)
    assert {s["status"] for s in body["successes"]} == {201}


def _price(model: str, **usage: int) -> Decimal:
    return Decimal(calc_price(Usage(**usage), model_ref=model, provider_id="openai").total_price)


def test_create_and_update_events_merge(service: Service) -> None:
    trace_id, span_id, gen_id = f"trace-{uuid.uuid4()}", f"span-{uuid.uuid4()}", str(uuid.uuid4())
    request_1 = [
        _event(
            "trace-create",
            {
                "id": trace_id,
                "timestamp": "2025-11-22T10:00:00.000Z",
                "name": "legacy-request",
                "userId": "user-1",
                "sessionId": "session-1",
                "tags": ["legacy", "sdk-v2"],
                "release": "r1",
                "version": "v1",
                "public": True,
                "metadata": {"team": "search"},
                "input": {"question": "What is OTLP?"},
                "output": {"answer": "A protocol."},
                "environment": "staging",
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
                "input": "query",
                "metadata": {"k": 3},
                "environment": "staging",
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
                "modelParameters": {"temperature": 0.2, "max_tokens": 100},
                "input": [{"role": "user", "content": "What is OTLP?"}],
                "usage": {"input": 1000, "output": 200, "unit": "TOKENS"},
                "metadata": {"attempt": {"n": 1}},
                "environment": "staging",
            },
            "2025-11-22T10:00:00.400Z",
        ),
        _event(
            "generation-update",
            {
                "id": gen_id,
                "traceId": trace_id,
                "endTime": "2025-11-22T10:00:01.400Z",
                "completionStartTime": "2025-11-22T10:00:00.900Z",
                "output": {"role": "assistant", "content": "A protocol."},
            },
            "2025-11-22T10:00:01.400Z",
        ),
    ]
    _ok(_ingest(service, *request_1), *request_1)
    request_2 = [
        _event(
            "generation-update",
            {
                "id": gen_id,
                "level": "WARNING",
                "statusMessage": "slow",
                "metadata": {"attempt": {"retried": True}, "extra": "x"},
                "usageDetails": {"output": 250},
            },
            "2025-11-22T10:00:02.000Z",
        ),
    ]
    _ok(_ingest(service, *request_2), *request_2)

    generation = service.get_json(f"/api/public/observations/{gen_id}")
    assert generation["traceId"] == trace_id and generation["type"] == "GENERATION"
    assert generation["parentObservationId"] == span_id and generation["name"] == "answer"
    assert generation["startTime"] == "2025-11-22T10:00:00.400000Z"
    assert generation["endTime"] == "2025-11-22T10:00:01.400000Z"
    assert generation["completionStartTime"] == "2025-11-22T10:00:00.900000Z"
    assert generation["input"] == [{"role": "user", "content": "What is OTLP?"}]
    assert generation["output"] == {"role": "assistant", "content": "A protocol."}
    assert generation["level"] == "WARNING" and generation["statusMessage"] == "slow"
    assert generation["metadata"] == {"attempt": {"n": 1, "retried": True}, "extra": "x"}
    assert generation["model"] == "gpt-4o"
    assert generation["modelParameters"] == {"temperature": 0.2, "max_tokens": 100}
    assert generation["environment"] == "staging"
    assert generation["usageDetails"] == {"input": 1000, "output": 250, "total": 1250}
    expected = _price("gpt-4o", input_tokens=1000, output_tokens=250)
    assert Decimal(str(generation["costDetails"]["total"])) == expected
    assert Decimal(str(generation["totalCost"])) == expected
    assert generation["latency"] == 1.0 and generation["timeToFirstToken"] == 0.5

    trace = service.get_json(f"/api/public/traces/{trace_id}")
    assert trace["name"] == "legacy-request" and trace["userId"] == "user-1"
    assert trace["sessionId"] == "session-1" and trace["tags"] == ["legacy", "sdk-v2"]
    assert (trace["release"], trace["version"], trace["public"]) == ("r1", "v1", True)
    assert trace["metadata"] == {"team": "search"} and trace["environment"] == "staging"
    assert trace["input"] == {"question": "What is OTLP?"}
    assert trace["output"] == {"answer": "A protocol."}
    assert trace["timestamp"] == "2025-11-22T10:00:00.000000Z"
    assert sorted(o["id"] for o in trace["observations"]) == sorted([span_id, gen_id])
    assert Decimal(str(trace["totalCost"])) == expected
    span = next(o for o in trace["observations"] if o["id"] == span_id)
    assert span["input"] == "query" and span["metadata"] == {"k": 3}

    # Redelivering the last request changes nothing, not even updatedAt.
    _ok(_ingest(service, *request_2), *request_2)
    assert service.get_json(f"/api/public/observations/{gen_id}") == generation


def test_update_before_create_in_one_request(service: Service) -> None:
    obs_id, trace_id = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        _event("span-update", {"id": obs_id, "output": "late"}, "2025-11-22T10:00:00.000Z"),
        _event(
            "span-create",
            {"id": obs_id, "traceId": trace_id, "name": "first", "input": "early"},
            "2025-11-22T10:00:05.000Z",
        ),
    ]
    _ok(_ingest(service, *events), *events)
    span = service.get_json(f"/api/public/observations/{obs_id}")
    assert (span["name"], span["input"], span["output"]) == ("first", "early", "late")
    assert span["traceId"] == trace_id  # the create ran first, so its trace id was kept


def test_trace_create_events_merge_across_requests(service: Service) -> None:
    trace_id = str(uuid.uuid4())
    first = _event(
        "trace-create",
        {
            "id": trace_id,
            "name": "a",
            "tags": ["x"],
            "metadata": {"m": 1, "run": {"a": 1}},
            "userId": "u",
            "public": True,
        },
        "2025-11-22T10:00:00Z",
    )
    second = _event(
        "trace-create",
        {
            "id": trace_id,
            "name": "b",
            "tags": ["y"],
            "metadata": {"n": 2, "run": {"b": 2}},
            "sessionId": "s",
        },
        "2025-11-22T10:00:01Z",
    )
    _ok(_ingest(service, first), first)
    _ok(_ingest(service, second), second)
    trace = service.get_json(f"/api/public/traces/{trace_id}")
    assert trace["name"] == "b" and trace["tags"] == ["x", "y"]
    assert trace["userId"] == "u" and trace["sessionId"] == "s"
    assert trace["metadata"] == {"m": 1, "n": 2, "run": {"a": 1, "b": 2}}  # deep-merged
    assert trace["public"] is True  # not set by the second event: kept
    assert trace["observations"] == []
    third = _event("trace-create", {"id": trace_id, "public": False}, "2025-11-22T10:00:02Z")
    _ok(_ingest(service, third), third)
    assert service.get_json(f"/api/public/traces/{trace_id}")["public"] is False


def test_observation_without_trace_gets_a_synthetic_trace(service: Service) -> None:
    obs_id = str(uuid.uuid4())
    event = _event("event-create", {"id": obs_id, "name": "click"}, "2025-11-22T10:00:00Z")
    _ok(_ingest(service, event), event)
    observation = service.get_json(f"/api/public/observations/{obs_id}")
    assert observation["type"] == "EVENT" and observation["traceId"] == obs_id
    assert [o["id"] for o in service.get_json(f"/api/public/traces/{obs_id}")["observations"]] == [
        obs_id
    ]


def test_invalid_events_are_reported_per_event(service: Service) -> None:
    trace_id, good_id = str(uuid.uuid4()), str(uuid.uuid4())
    good = _event("span-create", {"id": good_id, "traceId": trace_id}, "2025-11-22T10:00:00Z")
    score = _event(
        "score-create",
        {
            "id": f"score-{trace_id}",
            "traceId": trace_id,
            "name": "ok",
            "value": 1,
            "source": "EVAL",
        },
        "2025-11-22T10:00:00Z",
    )
    log = _event("sdk-log", {"log": {"message": "hello"}}, "2025-11-22T10:00:00Z")
    bad_level = _event("span-create", {"id": "x", "level": "LOUD"}, "2025-11-22T10:00:00Z")
    no_id = _event("generation-create", {"name": "g"}, "2025-11-22T10:00:00Z")
    bad_type = _event("widget-create", {"id": "w"}, "2025-11-22T10:00:00Z")
    bad_score = _event("score-create", {"traceId": trace_id, "value": 1}, "2025-11-22T10:00:00Z")
    no_time = {"id": "no-time", "type": "span-create", "body": {"id": "y"}}
    response = _ingest(service, good, bad_level, score, no_id, log, bad_type, bad_score, no_time)
    assert response.status_code == 207
    body = response.json()
    assert sorted(s["id"] for s in body["successes"]) == sorted(
        [good["id"], score["id"], log["id"]]
    )
    errors = {e["id"]: e for e in body["errors"]}
    assert sorted(errors) == sorted(
        [bad_level["id"], no_id["id"], bad_type["id"], bad_score["id"], "no-time"]
    )
    assert all(e["status"] == 400 for e in errors.values())
    assert "level" in errors[bad_level["id"]]["message"]
    assert "body.id" in errors[no_id["id"]]["message"]
    assert "widget-create" in errors[bad_type["id"]]["message"]
    assert "name" in errors[bad_score["id"]]["message"]
    assert "timestamp" in errors["no-time"]["message"]
    assert service.get_json(f"/api/public/observations/{good_id}")["traceId"] == trace_id
    [stored] = service.get_json("/api/public/v2/scores", {"traceId": trace_id})["data"]
    assert stored["source"] == "EVAL" and stored["id"] == f"score-{trace_id}"


def test_request_level_errors(service: Service) -> None:
    url = "/api/public/ingestion"
    assert service.client.post(url, json={"batch": []}).status_code == 401
    auth = {"Authorization": service.authorization}
    response = service.client.post(url, json={"events": []}, headers=auth)
    assert response.status_code == 400 and "batch" in response.json()["message"]
    response = service.client.post(url, json={"batch": []}, headers=auth)
    assert response.status_code == 207 and response.json() == {"successes": [], "errors": []}
