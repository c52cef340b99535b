"""Observation type priority table (docs/reference/langfuse.md §1.7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest.mapping.attributes import decode_key_values
from ingest.mapping.observation_type import RULES, observation_type
from ingest.mapping.request import build_resource_view, build_scope_view
from ingest.mapping.view import SpanView, group_keys
from ingest.otlp.json_codec import parse_export_request
from tests.ingest.mapping.spans import map_one


def obs_type(attributes: dict[str, Any], **kwargs: Any) -> str:
    return map_one(attributes, **kwargs).type


def test_rule_order_is_the_anchor_priority_list() -> None:
    assert [rule.name for rule in RULES] == [
        "PythonSDKv330Override",
        "LangfuseObservationType",
        "OpenInference",
        "OTelGenAIOperation",
        "Genkit",
        "VercelAIModelOperation",
        "VercelAIOtherOperation",
        "GenAITool",
        "Flue",
        "LiveKit",
        "ModelFallback",
    ]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        # 1. langfuse.observation.type beats everything below it
        ({"langfuse.observation.type": "agent", "openinference.span.kind": "LLM"}, "AGENT"),
        ({"langfuse.observation.type": "span", "gen_ai.request.model": "gpt-4o"}, "SPAN"),
        ({"langfuse.observation.type": "GENERATION"}, "SPAN"),  # case-sensitive, falls through
        # 2. OpenInference beats gen_ai.operation.name
        ({"openinference.span.kind": "LLM", "gen_ai.operation.name": "execute_tool"}, "GENERATION"),
        ({"openinference.span.kind": "RETRIEVER"}, "RETRIEVER"),
        ({"openinference.span.kind": "RERANKER", "llm.model_name": "rerank-v3"}, "GENERATION"),
        ({"openinference.span.kind": "RERANKER"}, "SPAN"),
        # 3. OTel GenAI operation
        ({"gen_ai.operation.name": "chat"}, "GENERATION"),
        ({"gen_ai.operation.name": "text_completion"}, "GENERATION"),
        ({"gen_ai.operation.name": "embeddings"}, "EMBEDDING"),
        ({"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "m"}, "AGENT"),
        ({"gen_ai.operation.name": "create_agent"}, "AGENT"),
        ({"gen_ai.operation.name": "execute_tool"}, "TOOL"),
        # current GenAI semconv operations (deliberate: Langfuse leaves them SPAN)
        ({"gen_ai.operation.name": "retrieval"}, "RETRIEVER"),
        ({"gen_ai.operation.name": "invoke_workflow"}, "CHAIN"),
        ({"gen_ai.operation.name": "plan"}, "AGENT"),
        ({"gen_ai.operation.name": "handle_conversation_turn"}, "AGENT"),
        ({"gen_ai.operation.name": "search_memory"}, "RETRIEVER"),
        ({"gen_ai.operation.name": "create_memory"}, "TOOL"),
        ({"gen_ai.operation.name": "update_memory"}, "TOOL"),
        ({"gen_ai.operation.name": "upsert_memory"}, "TOOL"),
        ({"gen_ai.operation.name": "delete_memory"}, "TOOL"),
        ({"gen_ai.operation.name": "create_memory_store"}, "TOOL"),
        ({"gen_ai.operation.name": "delete_memory_store"}, "TOOL"),
        # 4. Genkit
        ({"genkit:metadata:subtype": "embedder"}, "EMBEDDING"),
        ({"genkit:metadata:subtype": "tool.v2"}, "TOOL"),
        # 5./6. Vercel AI SDK
        (
            {"operation.name": "ai.generateText.doGenerate my-fn", "ai.model.id": "gpt-4o"},
            "GENERATION",
        ),
        ({"ai.operationId": "ai.embedMany.doEmbed", "ai.model.id": "e5"}, "EMBEDDING"),
        ({"ai.operationId": "ai.generateText.doGenerate"}, "SPAN"),  # no model: falls through
        ({"operation.name": "ai.toolCall my-fn"}, "TOOL"),
        ({"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o"}, "SPAN"),
        # 7. GenAI tool attributes (pydantic-ai sets no operation name on tools)
        ({"gen_ai.tool.name": "lookup"}, "TOOL"),
        ({"gen_ai.tool.call.id": "call_1"}, "TOOL"),
        ({"gen_ai.tool.name": ""}, "SPAN"),  # not meaningful
        # 8. Flue
        ({"flue.tool.call_id": "t1"}, "TOOL"),
        ({"flue.task.agent": "planner"}, "AGENT"),
        # 10. model fallback (ai.model.id is not a fallback key)
        ({"llm.model_name": "mistral-large"}, "GENERATION"),
        ({"model": "claude-3-5-haiku"}, "GENERATION"),
        ({"gen_ai.response.model": "gpt-4o-2024-08-06"}, "GENERATION"),
        ({"ai.model.id": "gpt-4o"}, "SPAN"),
        ({"model": ""}, "SPAN"),
        ({}, "SPAN"),
    ],
)
def test_priority(attributes: dict[str, Any], expected: str) -> None:
    assert obs_type(attributes) == expected


def test_livekit_span_names() -> None:
    assert obs_type({}, scope_name="livekit-agents", name="agent_turn") == "AGENT"
    assert obs_type({}, scope_name="livekit-agents", name="function_tool") == "TOOL"
    assert obs_type({}, scope_name="other", name="agent_turn") == "SPAN"


PYTHON = {"telemetry.sdk.language": "python"}
GENERATION_LIKE = {"langfuse.observation.type": "span", "langfuse.observation.model.name": "gpt-4o"}


@pytest.mark.parametrize(
    ("scope_version", "resource", "expected"),
    [
        ("3.3.0", PYTHON, "GENERATION"),
        ("3.2.1", PYTHON, "GENERATION"),
        ("", PYTHON, "GENERATION"),
        ("3.4.0", PYTHON, "SPAN"),
        ("4.0.0", PYTHON, "SPAN"),
        ("3.3.0", {"telemetry.sdk.language": "nodejs"}, "SPAN"),
    ],
)
def test_python_sdk_v330_override(
    scope_version: str, resource: dict[str, Any], expected: str
) -> None:
    record = map_one(
        GENERATION_LIKE, scope_name="langfuse-sdk", scope_version=scope_version, resource=resource
    )
    assert record.type == expected


def test_prompt_is_linked_only_for_generations() -> None:
    prompt = {"langfuse.observation.prompt.name": "qa", "langfuse.observation.prompt.version": 4}
    generation = map_one({**prompt, "langfuse.observation.type": "generation"})
    assert (generation.prompt_name, generation.prompt_version) == ("qa", 4)
    span = map_one({**prompt, "langfuse.observation.type": "span"})
    assert not span.HasField("prompt_name") and not span.HasField("prompt_version")


def test_declared_rule_keys_cover_what_each_rule_reads() -> None:
    # observation_type offers a span without any declared key only to the key-less rules; over
    # every fixture span, that shortcut must give the type the full table gives.
    full_table = tuple(list(RULES))
    assert full_table is not RULES
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "otlp"
    checked = 0
    for path in sorted(fixtures.glob("*.json")):
        request = parse_export_request(path.read_bytes())
        for resource_spans in request.resource_spans:
            resource = build_resource_view(resource_spans.resource)
            for scope_spans in resource_spans.scope_spans:
                scope = build_scope_view(scope_spans.scope)
                for span in scope_spans.spans:
                    attributes = decode_key_values(span.attributes)
                    view = SpanView(
                        span, attributes, resource, scope, False, group_keys(attributes)
                    )
                    assert observation_type(view) == observation_type(view, full_table), path.name
                    checked += 1
    assert checked > 100
