"""Tool definitions leave ``metadata.attributes`` and join the input as ``{messages, tools}``
(Langfuse ``normalizeToolMetadataForObservation``,
``packages/shared/src/server/ingestion/extractToolsBackend.ts``)."""

from __future__ import annotations

import json
from typing import Any

from storage.records import ObservationRecord
from tests.ingest.mapping.spans import map_one

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
LOOKUP = {"name": "lookup_order", "parameters_json_schema": {"type": "object"}}
MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Oslo?"}]}]


def mapped(attributes: dict[str, Any], **kwargs: Any) -> tuple[Any, dict[str, Any] | None]:
    """(input as JSON, metadata.attributes as a dict or None when the key is gone)."""
    record: ObservationRecord = map_one(attributes, **kwargs)
    raw = record.metadata.get("attributes")
    inp = json.loads(record.input) if record.HasField("input") else None
    return inp, None if raw is None else json.loads(raw)


def test_semconv_tool_definitions_join_the_messages() -> None:
    inp, attributes = mapped(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": json.dumps(MESSAGES),
            "gen_ai.tool.definitions": json.dumps([WEATHER]),
        }
    )
    assert inp == {"messages": MESSAGES, "tools": [WEATHER]}
    assert attributes == {"gen_ai.operation.name": "chat"}


def test_vercel_prompt_tools_include_provider_tools_without_a_name() -> None:
    provider_tool = {"type": "provider-defined", "id": "openai.web_search"}
    inp, attributes = mapped(
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.prompt.messages": '[{"role":"user","content":"Hi"}]',
            "ai.prompt.tools": [json.dumps(WEATHER), json.dumps(provider_tool)],
        },
        scope_name="ai",
    )
    assert inp == {
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [WEATHER, provider_tool],
    }
    assert attributes == {"ai.operationId": "ai.generateText.doGenerate"}


def test_pydantic_ai_function_tools_leave_model_request_parameters() -> None:
    parameters = {"function_tools": [LOOKUP], "allow_text_output": True}
    inp, attributes = mapped(
        {
            "gen_ai.input.messages": json.dumps(MESSAGES),
            "model_request_parameters": json.dumps(parameters),
        },
        scope_name="pydantic-ai",
    )
    assert inp == {"messages": MESSAGES, "tools": [LOOKUP]}
    assert attributes == {"model_request_parameters": '{"allow_text_output":true}'}


def test_openinference_indexed_json_schemas_in_index_order_deduplicated() -> None:
    inp, attributes = mapped(
        {
            "input.value": json.dumps({"messages": MESSAGES}),
            "llm.tools.10.tool.json_schema": json.dumps(LOOKUP),
            "llm.tools.2.tool.json_schema": json.dumps({"type": "function", "function": WEATHER}),
            "gen_ai.tool.definitions": json.dumps([WEATHER]),
            "openinference.span.kind": "LLM",
        }
    )
    # gen_ai.tool.definitions first, then llm.tools.N by N; the nested duplicate is dropped
    assert inp == {"messages": MESSAGES, "tools": [WEATHER, LOOKUP]}
    assert attributes == {"openinference.span.kind": "LLM"}


def test_metadata_tools_of_a_langfuse_sdk_span() -> None:
    inp, _ = mapped(
        {
            "langfuse.observation.input": '{"messages":[]}',
            "langfuse.observation.metadata.tools": json.dumps([WEATHER]),
        },
        scope_name="langfuse-sdk",
    )
    record = map_one(
        {
            "langfuse.observation.input": '{"messages":[]}',
            "langfuse.observation.metadata.tools": json.dumps([WEATHER]),
            "langfuse.observation.metadata.team": "a",
        },
        scope_name="langfuse-sdk",
    )
    assert inp == {"messages": [], "tools": [WEATHER]}
    assert "tools" not in record.metadata
    assert record.metadata["team"] == '"a"'


def test_text_and_missing_inputs() -> None:
    definitions = {"gen_ai.tool.definitions": json.dumps([WEATHER])}
    assert mapped({**definitions, "input.value": "plain text"})[0] == {
        "prompt": "plain text",
        "tools": [WEATHER],
    }
    assert mapped(definitions)[0] == {"tools": [WEATHER]}
    existing = {"messages": [], "tools": [WEATHER, LOOKUP]}
    assert mapped({**definitions, "input.value": json.dumps(existing)})[0] == existing


def test_nothing_moves_when_the_input_cannot_hold_tools_or_a_tool_has_no_name() -> None:
    definitions = json.dumps([WEATHER])
    inp, attributes = mapped({"gen_ai.tool.definitions": definitions, "input.value": "42"})
    assert inp == 42
    assert attributes == {"gen_ai.tool.definitions": definitions}
    nameless = json.dumps([WEATHER, {"description": "no name"}])
    inp, attributes = mapped(
        {"gen_ai.tool.definitions": nameless, "gen_ai.input.messages": json.dumps(MESSAGES)}
    )
    assert inp == MESSAGES
    assert attributes == {"gen_ai.tool.definitions": nameless}
