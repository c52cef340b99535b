"""Validation, ordering and conversion of ingestion batches (ingest.ingestion.events)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.ingestion.events import parse_batch
from ingest.mapping.context import IngestContext

CTX = IngestContext(project_id="p1", sdk_name="python", sdk_version="2.60.0")
NOW = 1_763_800_000_000_000
T = "2025-11-22T00:06:40.000Z"
T_US = 1_763_770_000_000_000


def ev(event_type: str, body: dict[str, Any], event_id: str = "e1", ts: str = T) -> dict[str, Any]:
    return {"id": event_id, "timestamp": ts, "type": event_type, "body": body}


def test_creates_come_before_updates_then_by_timestamp() -> None:
    batch = [
        ev("span-update", {"id": "s"}, "u1", "2025-11-22T00:00:01Z"),
        ev("span-create", {"id": "s"}, "c2", "2025-11-22T00:00:03Z"),
        ev("trace-create", {"id": "t"}, "c1", "2025-11-22T00:00:02Z"),
        ev("generation-update", {"id": "g"}, "u0", "2025-11-22T00:00:00Z"),
    ]
    out = parse_batch(batch, CTX, now_us=NOW)
    assert [event_id for event_id, _, _ in out.records] == ["c1", "c2", "u0", "u1"]
    assert not out.errors


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not an object", "event must be a JSON object"),
        ({"id": "", "timestamp": T, "type": "span-create", "body": {}}, "id must be"),
        ({"id": "x" * 801, "timestamp": T, "type": "span-create", "body": {}}, "id must be"),
        ({"id": "a\rb", "timestamp": T, "type": "span-create", "body": {}}, "carriage return"),
        ({"id": "a", "timestamp": "yesterday", "type": "span-create", "body": {}}, "timestamp"),
        ({"id": "a", "timestamp": T, "type": "nope", "body": {}}, "unknown event type"),
        (
            {"id": "a", "timestamp": T, "type": "dataset-run-item-create", "body": {}},
            "not accepted",
        ),
        ({"id": "a", "timestamp": T, "type": "span-create", "body": []}, "body must be an object"),
    ],
)
def test_invalid_envelopes_are_400_entries(raw: Any, message: str) -> None:
    out = parse_batch([raw, ev("span-create", {"id": "ok"}, "good")], CTX, now_us=NOW)
    assert [event_id for event_id, _, _ in out.records] == ["good"]
    [error] = out.errors
    assert error["status"] == 400 and message in error["message"]


@pytest.mark.parametrize(
    ("event_type", "body", "message"),
    [
        ("span-create", {}, "body.id is required"),
        ("span-create", {"id": "s", "level": "LOUD"}, "level must be one of"),
        ("span-create", {"id": "s", "startTime": "soon"}, "startTime must be an ISO-8601"),
        ("span-create", {"id": "s", "name": 3}, "name must be a string"),
        ("generation-create", {"id": "g", "usage": 5}, "usage must be an object"),
        ("generation-create", {"id": "g", "promptName": "p"}, "promptName and promptVersion"),
        ("observation-create", {"id": "o", "type": "WIDGET"}, "type must be one of"),
        ("trace-create", {"tags": "a"}, "tags must be an array of strings"),
        ("trace-create", {"name": "n" * 1001}, "at most 1000"),
        ("score-create", {"name": "s", "value": 1}, "one of traceId, sessionId"),
    ],
)
def test_invalid_bodies_name_the_field(event_type: str, body: dict[str, Any], message: str) -> None:
    out = parse_batch([ev(event_type, body, "bad")], CTX, now_us=NOW)
    [error] = out.errors
    assert error["id"] == "bad" and error["status"] == 400
    assert message in error["message"]


def test_generation_fields() -> None:
    body = {
        "id": "g-1",
        "traceId": "trace-1",
        "name": "chat",
        "startTime": "2025-11-22T00:06:40.000Z",
        "endTime": "2025-11-22T00:06:41.500Z",
        "completionStartTime": "2025-11-22T00:06:40.250Z",
        "model": "gpt-4o",
        "modelParameters": {"temperature": 0.2, "stop": ["x"]},
        "usage": {"promptTokens": 100, "completionTokens": 20, "totalTokens": 120},
        "costDetails": {"input": 0.5, "bogus": "x"},
        "input": [{"role": "user", "content": "hi"}],
        "output": "hello",
        "metadata": {"k": "v", "n": 1},
        "level": "warning",
        "statusMessage": "slow",
        "parentObservationId": "span-1",
        "version": "v2",
        "environment": "Langfuse-Prod",
        "promptName": "p",
        "promptVersion": 3,
    }
    [(_, _, r)] = parse_batch([ev("generation-create", body)], CTX, now_us=NOW).records
    assert (r.id, r.trace_id, r.type, r.name, r.partial) == (
        "g-1",
        "trace-1",
        "GENERATION",
        "chat",
        True,
    )
    assert (r.start_time_us, r.end_time_us) == (T_US, T_US + 1_500_000)
    assert r.completion_start_time_us == T_US + 250_000
    assert r.provided_model_name == "gpt-4o"
    assert r.model_parameters == '{"temperature":0.2,"stop":["x"]}'
    assert dict(r.provided_usage_details) == {"input": 100, "output": 20, "total": 120}
    assert dict(r.provided_cost_details) == {"input": "0.5"}
    assert r.input == '[{"role":"user","content":"hi"}]' and r.output == "hello"
    assert dict(r.metadata) == {"k": '"v"', "n": "1"}
    assert (r.level, r.status_message, r.parent_observation_id) == ("WARNING", "slow", "span-1")
    assert r.environment == "prod"  # normalised like spans
    assert (r.prompt_name, r.prompt_version) == ("p", 3)
    assert (r.ingestion_sdk_name, r.ingestion_sdk_version) == ("python", "2.60.0")


def test_usage_details_and_legacy_costs() -> None:
    body = {
        "id": "g",
        "usage": {"input": 5, "output": 6, "inputCost": 0.01, "totalCost": 0.03},
        "usageDetails": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 30},
        },
    }
    [(_, _, r)] = parse_batch([ev("generation-update", body)], CTX, now_us=NOW).records
    # usageDetails in OpenAI's shape is split into Langfuse keys and wins over `usage`
    assert dict(r.provided_usage_details) == {
        "input": 70,
        "output": 20,
        "total": 120,
        "input_cached_tokens": 30,
    }
    assert dict(r.provided_cost_details) == {"input": "0.01", "total": "0.03"}


def test_update_without_fields_sets_nothing() -> None:
    [(_, _, r)] = parse_batch([ev("span-update", {"id": "s"})], CTX, now_us=NOW).records
    assert r.partial and r.trace_id == "" and r.name == "" and r.environment == ""
    assert r.start_time_us == T_US  # envelope time; kept only if nothing earlier set it
    for name in ("end_time_us", "input", "output", "status_message", "version"):
        assert not r.HasField(name)


def test_span_bodies_ignore_model_fields() -> None:
    [(_, _, r)] = parse_batch(
        [ev("span-create", {"id": "s", "model": "gpt-4o", "usage": {"input": 1}})], CTX, now_us=NOW
    ).records
    assert not r.HasField("provided_model_name") and not r.provided_usage_details


def test_observation_create_takes_the_body_type() -> None:
    [(_, _, r)] = parse_batch(
        [ev("observation-create", {"id": "o", "type": "event"})], CTX, now_us=NOW
    ).records
    assert r.type == "EVENT"


def test_trace_create() -> None:
    body = {
        "id": "trace-1",
        "timestamp": T,
        "name": "request",
        "userId": "u",
        "sessionId": "s",
        "tags": ["a", "b", "a", ""],
        "public": True,
        "release": "r1",
        "version": "v1",
        "metadata": {"m": {"x": 1}},
        "input": {"q": "hi"},
        "output": "bye",
        "environment": "staging",
    }
    [(_, _, r)] = parse_batch([ev("trace-create", body)], CTX, now_us=NOW).records
    assert r.trace_only and not r.partial and r.id == r.trace_id == "trace-1"
    assert r.start_time_us == T_US and r.environment == "staging"
    assert (r.release, r.version) == ("r1", "v1")
    t = r.trace
    assert (t.name, t.user_id, t.session_id, t.public) == ("request", "u", "s", True)
    assert list(t.tags) == ["a", "b"]
    assert dict(t.metadata) == {"m": '{"x":1}'}
    assert (t.input, t.output) == ('{"q":"hi"}', "bye")


def test_trace_without_id_gets_one() -> None:
    [(_, _, r)] = parse_batch([ev("trace-create", {})], CTX, now_us=NOW).records
    assert len(r.id) == 36 and r.trace_id == r.id


def test_scores_and_sdk_logs() -> None:
    batch = [
        ev("score-create", {"name": "q", "value": 0.5, "traceId": "t", "source": "EVAL"}, "s1"),
        ev("sdk-log", {"log": {"msg": "hello"}}, "l1"),
    ]
    out = parse_batch(batch, CTX, now_us=NOW)
    [(event_id, _, score)] = out.scores
    assert event_id == "s1" and score.source == "EVAL" and score.value == 0.5
    assert out.logged == ["l1"] and not out.records and not out.errors
