"""Scalar fields: environment, level, status, name, version/release, model, parameters,
completion start, prompt (docs/reference/langfuse.md §1.8-§1.9)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.mapping.fields import normalize_environment
from tests.ingest.mapping.spans import START_NS, map_one

START_US = START_NS // 1000

# ---- environment -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("production", "production"),
        ("Production", "production"),
        ("Langfuse-Staging", "staging"),
        ("langfuse_prod", "prod"),
        ("LANGFUSE-langfuse_qa", "qa"),  # prefixes stripped repeatedly
        ("langfuse", "default"),  # ^(langfuse[-_]?)+ leaves nothing
        ("langfuseprod", "prod"),  # the separator is optional
        ("langfuselangfuse-qa", "qa"),
        ("langfuse-", "default"),  # nothing left
        ("eu-west_1", "eu-west_1"),
        ("prod env", "default"),
        ("prod\n", "default"),
        ("ünïcode", "default"),
        ("a" * 45, "a" * 40),  # truncated to 40
        ("langfuse-" + "b" * 45, "b" * 40),
        ("", "default"),
    ],
)
def test_normalize_environment(raw: str, expected: str) -> None:
    assert normalize_environment(raw) == expected


def test_environment_key_order_span_then_resource() -> None:
    # For each key in order, the span attribute comes before the resource attribute.
    resource = {"langfuse.environment": "res-lf", "deployment.environment.name": "res-den"}
    assert map_one({"deployment.environment.name": "span-den"}, resource=resource).environment == (
        "res-lf"
    )
    assert map_one({"langfuse.environment": "span-lf"}, resource=resource).environment == "span-lf"
    assert (
        map_one({"deployment.environment": "span-de"}, resource={"deployment.environment": "x"})
    ).environment == "span-de"
    assert map_one({}, resource={"deployment.environment": "Dev"}).environment == "dev"
    assert map_one({"langfuse.environment": ""}, resource={}).environment == "default"


@pytest.mark.parametrize("value", [7, True, ["prod"]])
def test_a_non_string_environment_is_default(value: object) -> None:
    assert map_one({"langfuse.environment": value}).environment == "default"
    # the first truthy source decides, as in Langfuse: no fall-through to the next key
    assert map_one({"langfuse.environment": value, "deployment.environment": "x"}).environment == (
        "default"
    )


# ---- level / status --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "status_code", "expected"),
    [
        ({}, 0, "DEFAULT"),
        ({}, 1, "DEFAULT"),
        ({}, 2, "ERROR"),
        ({"langfuse.observation.level": "warning"}, 2, "WARNING"),
        ({"langfuse.observation.level": "WARN"}, 0, "WARNING"),
        ({"langfuse.observation.level": "Info"}, 2, "DEFAULT"),
        ({"langfuse.observation.level": "trace"}, 0, "DEBUG"),
        ({"langfuse.observation.level": "fatal"}, 0, "ERROR"),
        ({"langfuse.observation.level": "nonsense"}, 2, "ERROR"),
    ],
)
def test_level(attributes: dict[str, Any], status_code: int, expected: str) -> None:
    assert map_one(attributes, status_code=status_code).level == expected


def test_livekit_debug_spans() -> None:
    assert map_one({}, scope_name="livekit-agents", name="tts_node").level == "DEBUG"
    assert map_one({}, scope_name="other", name="tts_node").level == "DEFAULT"


def test_status_message() -> None:
    record = map_one({}, status_code=2, status_message="boom")
    assert (record.level, record.status_message) == ("ERROR", "boom")
    explicit = map_one(
        {"langfuse.observation.status_message": "explicit"}, status_code=2, status_message="boom"
    )
    assert explicit.status_message == "explicit"
    assert not map_one({}, status_code=2).HasField("status_message")


_EXCEPTION = "gen_ai.client.operation.exception"


def test_operation_exception_event_is_an_error() -> None:
    # GenAI semconv: a failed operation records gen_ai.client.operation.exception (exception.*)
    failed = map_one(
        {},
        events=[(_EXCEPTION, {"exception.type": "RateLimitError", "exception.message": "429"})],
    )
    assert (failed.level, failed.status_message) == ("ERROR", "429")
    typed = map_one({}, events=[(_EXCEPTION, {"exception.type": "TimeoutError"})])
    assert (typed.level, typed.status_message) == ("ERROR", "TimeoutError")
    # the span's own status message and an explicit level/status message win
    own = map_one({}, status_code=2, status_message="boom", events=[(_EXCEPTION, {})])
    assert (own.level, own.status_message) == ("ERROR", "boom")
    explicit = map_one(
        {"langfuse.observation.level": "WARNING"},
        events=[(_EXCEPTION, {"exception.message": "retried"})],
    )
    assert (explicit.level, explicit.status_message) == ("WARNING", "retried")
    other = map_one({}, events=[("exception", {"exception.message": "x"})])
    assert other.level == "DEFAULT" and not other.HasField("status_message")


# ---- name ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({}, "span-name"),
        ({"gen_ai.tool.name": "lookup", "logfire.msg": "running tool"}, "lookup"),
        ({"logfire.msg": "agent run", "ai.toolCall.name": "x"}, "agent run"),
        ({"ai.toolCall.name": "getWeather", "ai.operationId": "ai.toolCall"}, "getWeather"),
        (
            {"ai.operationId": "ai.generateText", "ai.telemetry.functionId": "fn"},
            "fn:ai.generateText",
        ),
        ({"ai.operationId": "ai.generateText"}, "ai.generateText"),
        ({"genkit:name": "menuSuggestion"}, "menuSuggestion"),
        ({"gen_ai.tool.name": ""}, "span-name"),
    ],
)
def test_name(attributes: dict[str, Any], expected: str) -> None:
    assert map_one(attributes, name="span-name").name == expected


# ---- version / release -----------------------------------------------------------------------


def test_version_and_release() -> None:
    resource = {"service.version": "1.2.3", "langfuse.release": "r-res"}
    record = map_one({}, resource=resource)
    assert (record.version, record.release) == ("1.2.3", "r-res")
    record = map_one({"langfuse.version": "v9", "langfuse.release": "r-span"}, resource=resource)
    assert (record.version, record.release) == ("v9", "r-span")
    record = map_one({})
    assert not record.HasField("version") and not record.HasField("release")


# ---- model -----------------------------------------------------------------------------------


MODEL_ORDER = (
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "ai.model.id",
    "gen_ai.request.model",
    "llm.response.model",
    "llm.model_name",
    "model",
)


@pytest.mark.parametrize("first", range(len(MODEL_ORDER)))
def test_model_precedence(first: int) -> None:
    present = {key: f"model-from-{key}" for key in MODEL_ORDER[first:]}
    assert map_one(present).provided_model_name == f"model-from-{MODEL_ORDER[first]}"


def test_model_edge_cases() -> None:
    assert not map_one({"model": ""}).HasField("provided_model_name")
    genkit = {"genkit:metadata:subtype": "model", "genkit:name": "googleai/gemini-2.0-flash"}
    assert map_one(genkit).provided_model_name == "googleai/gemini-2.0-flash"


# ---- model parameters ------------------------------------------------------------------------


def params(attributes: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
    record = map_one(attributes, **kwargs)
    if not record.HasField("model_parameters"):
        return None
    parsed: dict[str, Any] = json.loads(record.model_parameters)
    return parsed


def test_model_parameters_sources() -> None:
    explicit = '{"temperature": 0.2, "max_tokens": "Infinity", "stop": ["a"], "stream": true}'
    assert params({"langfuse.observation.model.parameters": explicit}) == {
        "temperature": 0.2,
        "max_tokens": "Infinity",
        "stop": '["a"]',  # non-scalars become JSON text
        "stream": "true",
    }
    assert params(
        {"llm.invocation_parameters": '{"model": "gpt-4o", "temperature": 0}', "model_config": "{}"}
    ) == {"model": "gpt-4o", "temperature": 0}
    assert params(
        {
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.stop_sequences": ["\n"],
            "llm.invocation_parameters.top_p": 0.9,
        }
    ) == {"temperature": 0.5, "stop_sequences": '["\\n"]', "top_p": 0.9}
    assert params({"gen_ai.request.model": "gpt-4o"}) is None


def test_vercel_model_parameters_merge_explicit_on_top() -> None:
    attributes = {
        "ai.settings.maxSteps": 5,
        "ai.prompt.toolChoice": '{"type":"auto"}',
        "gen_ai.request.max_tokens": 512,
        "gen_ai.response.finish_reasons": ["stop", "length"],
        "ai.model.provider": "openai.chat",
        "gen_ai.request.temperature": 0.3,
        "ai.response.providerMetadata": '{"openai": {"serviceTier": "flex"}}',
        "langfuse.observation.model.parameters": '{"temperature": 1}',
    }
    assert params(attributes, scope_name="ai") == {
        "maxSteps": "5",
        "toolChoice": '{"type":"auto"}',
        "maxTokens": "512",
        "finishReason": "stop,length",
        "system": "openai.chat",
        "temperature": 1,
        "service_tier": "flex",
    }


# ---- completion start time -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_us"),
    [
        ("2025-11-22T09:00:00.123456Z", 1_763_802_000_123_456),
        ('"2025-11-22T09:00:00.123456Z"', 1_763_802_000_123_456),  # double-encoded (Python SDK)
        ("2025-11-22T10:00:00.5+01:00", 1_763_802_000_500_000),
        ("2025-11-22T09:00:00", 1_763_802_000_000_000),  # no zone: UTC
        ("2025-11-22T09:00:00.123456789Z", 1_763_802_000_123_456),  # nanoseconds truncated
    ],
)
def test_completion_start_time_iso(value: str, expected_us: int) -> None:
    record = map_one({"langfuse.observation.completion_start_time": value})
    assert record.completion_start_time_us == expected_us


def test_completion_start_time_from_ms_to_first_chunk() -> None:
    record = map_one({"ai.response.msToFirstChunk": 412.7})
    assert record.completion_start_time_us == START_US + 412_700
    record = map_one({"ai.stream.msToFirstChunk": 0.0004})
    assert record.completion_start_time_us == START_US + 1  # rounded up to the microsecond
    record = map_one({"langfuse.observation.completion_start_time": "soon"})
    assert not record.HasField("completion_start_time_us")


# ---- prompt ----------------------------------------------------------------------------------


def test_prompt_sources() -> None:
    generation = {"langfuse.observation.type": "generation"}
    record = map_one({**generation, "langfuse.prompt.name": "p", "langfuse.prompt.version": "3"})
    assert (record.prompt_name, record.prompt_version) == ("p", 3)
    vercel = {"ai.telemetry.metadata.langfusePrompt": '{"name": "weather", "version": 2}'}
    record = map_one({**generation, **vercel})
    assert (record.prompt_name, record.prompt_version) == ("weather", 2)
    record = map_one({**generation, "langfuse.observation.prompt.name": "p", **vercel})
    assert (record.prompt_name, record.prompt_version) == ("p", 2)
    record = map_one({**generation, "langfuse.prompt.version": -1})
    assert not record.HasField("prompt_version")


def test_span_times_outside_the_storable_range_reject_only_that_span() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    from ingest.mapping import IngestContext, map_export_request

    def span(name: str, start_ns: int) -> Span:
        return Span(
            trace_id=b"\x01" * 16,
            span_id=name.encode().ljust(8, b"x")[:8],
            name=name,
            start_time_unix_nano=start_ns,
            end_time_unix_nano=start_ns,
        )

    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            span("epoch", 1),  # 1970: before the storable range
                            span("ok", 1_763_770_000_000_000_000),
                            span("far", 2**64 - 1),  # largest fixed64: year 2554
                        ]
                    )
                ]
            )
        ]
    )
    result = map_export_request(request, IngestContext("p"), now_us=1_763_770_000_000_000)
    assert [r.name for r in result.records] == ["ok"]
    assert result.rejected_spans == 2
    assert "epoch" in result.errors[0] and "outside 1973-03-03..2286-11-20" in result.errors[0]
