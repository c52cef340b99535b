"""Input/output extraction and flattened-message reconstruction
(docs/reference/langfuse.md §1.11)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.mapping.nested import MAX_ARRAY_SLOTS, rebuild_flattened
from tests.ingest.mapping.spans import map_one


def io(attributes: dict[str, Any], **kwargs: Any) -> tuple[str | None, str | None]:
    record = map_one(attributes, **kwargs)
    return (
        record.input if record.HasField("input") else None,
        record.output if record.HasField("output") else None,
    )


def io_json(attributes: dict[str, Any], **kwargs: Any) -> tuple[Any, Any]:
    inp, out = io(attributes, **kwargs)
    return (
        None if inp is None else json.loads(inp),
        None if out is None else json.loads(out),
    )


# ---- flattened keys --------------------------------------------------------------------------


def rebuild(attributes: dict[str, Any], prefix: str) -> Any:
    return rebuild_flattened(attributes, [k for k in attributes if k.startswith(prefix)], prefix)


def test_openllmetry_prompt_becomes_a_list_of_messages() -> None:
    attributes = {
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Hi",
    }
    assert rebuild(attributes, "gen_ai.prompt") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


def test_nested_lists_and_holes() -> None:
    attributes = {
        "gen_ai.completion.0.tool_calls.1.name": "b",
        "gen_ai.completion.0.tool_calls.0.name": "a",
        "gen_ai.completion.2.content": "third",
    }
    assert rebuild(attributes, "gen_ai.completion") == [
        {"tool_calls": [{"name": "a"}, {"name": "b"}]},
        None,
        {"content": "third"},
    ]


def test_openinference_messages_keep_the_message_level() -> None:
    attributes = {
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "text",
        "llm.input_messages.0.message.contents.0.message_content.text": "Hi",
    }
    assert rebuild(attributes, "llm.input_messages") == [
        {
            "message": {
                "role": "user",
                "contents": [{"message_content": {"type": "text", "text": "Hi"}}],
            }
        }
    ]


def test_array_slots_are_capped() -> None:
    attributes = {
        f"gen_ai.prompt.{MAX_ARRAY_SLOTS - 1}.content": "last slot",
        f"gen_ai.prompt.{MAX_ARRAY_SLOTS}.content": "dropped",
    }
    rebuilt = rebuild(attributes, "gen_ai.prompt")
    assert len(rebuilt) == MAX_ARRAY_SLOTS == 10_001
    assert rebuilt[-1] == {"content": "last slot"}


def test_prototype_pollution_segments_are_ignored() -> None:
    attributes = {
        "gen_ai.prompt.0.__proto__.polluted": "x",
        "gen_ai.prompt.0.constructor": "x",
        "gen_ai.prompt.0.prototype.y": "x",
        "gen_ai.prompt.0.content": "ok",
    }
    assert rebuild(attributes, "gen_ai.prompt") == [{"content": "ok"}]


def test_exact_key_is_used_verbatim_and_objects_without_indexes() -> None:
    assert rebuild({"gen_ai.prompt": "raw", "gen_ai.prompt.0.content": "x"}, "gen_ai.prompt") == (
        "raw"
    )
    assert rebuild({"gen_ai.prompt.user": "hi", "gen_ai.prompt.meta.k": 1}, "gen_ai.prompt") == {
        "user": "hi",
        "meta": {"k": 1},
    }
    # A key that would descend through a scalar is dropped.
    assert rebuild(
        {"gen_ai.prompt.0.content": "x", "gen_ai.prompt.0.content.deep": "y"}, "gen_ai.prompt"
    ) == [{"content": "x"}]


def test_flattened_families_on_a_span() -> None:
    inp, out = io_json(
        {
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Hello",
        }
    )
    assert inp == [{"role": "user", "content": "Hi"}]
    assert out == [{"role": "assistant", "content": "Hello"}]
    assert io({"llm.output_messages.0.message.content": "only output"})[0] is None


# ---- source order ----------------------------------------------------------------------------


def test_langfuse_io_wins_and_strings_are_stored_as_given() -> None:
    attributes = {
        "langfuse.observation.input": '{"q": 1}',
        "gen_ai.input.messages": "[]",
        "input.value": "other",
    }
    assert io(attributes) == ('{"q": 1}', None)


def test_traceloop_before_openinference_before_flattened() -> None:
    assert io({"traceloop.entity.input": "t", "input.value": "oi"}) == ("t", None)
    assert io({"input.value": "oi", "llm.input_messages.0.message.content": "m"}) == ("oi", None)


def test_semconv_messages_with_system_instructions() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    instructions = [{"type": "text", "content": "Be terse."}]
    inp, out = io_json(
        {
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.system_instructions": json.dumps(instructions),
            "gen_ai.output.messages": "[]",
        }
    )
    assert inp == [{"role": "system", "content": "Be terse."}, *messages]
    assert out == []


# ---- gen_ai.system_instructions (Langfuse prependSystemInstructions, issue #15336) -----------

_USER = [{"role": "user", "parts": [{"type": "text", "content": "Hello"}]}]


def _with_instructions(instructions: Any, messages: Any = _USER, **kwargs: Any) -> Any:
    attributes = {"gen_ai.system_instructions": instructions, "gen_ai.output.messages": "[]"}
    if messages is not None:
        attributes["gen_ai.input.messages"] = (
            messages if isinstance(messages, str) else json.dumps(messages)
        )
    return io_json(attributes, **kwargs)[0]


@pytest.mark.parametrize(
    ("instructions", "system"),
    [
        # pydantic-ai / semconv "parts" shape: text joined with newlines into ONE message
        (
            json.dumps(
                [
                    {"type": "text", "content": "Be concise."},
                    {"type": "text", "content": "Be accurate."},
                ]
            ),
            [{"role": "system", "content": "Be concise.\nBe accurate."}],
        ),
        # structured parts as an OTLP array of kvlists (the operation-details event shape)
        ([{"type": "text", "content": "Be brief."}], [{"role": "system", "content": "Be brief."}]),
        # LiteLLM "structured message" shape: each kept, a missing role becomes system
        (
            json.dumps([{"parts": [{"type": "text", "content": "no role"}]}]),
            [{"role": "system", "parts": [{"type": "text", "content": "no role"}]}],
        ),
        # mixed shapes fall back to the text path (parts' text included)
        (
            json.dumps(
                [
                    {"type": "text", "content": "preamble"},
                    {"role": "system", "parts": [{"type": "text", "content": "You help."}]},
                ]
            ),
            [{"role": "system", "content": "preamble\nYou help."}],
        ),
        (json.dumps("Be helpful."), [{"role": "system", "content": "Be helpful."}]),
        ("not valid json", [{"role": "system", "content": "not valid json"}]),
        ("[]", []),
        (json.dumps([42, True, None]), []),
    ],
)
def test_system_instructions_shapes(instructions: Any, system: list[Any]) -> None:
    assert _with_instructions(instructions) == [*system, *_USER]


def test_system_instructions_need_an_input() -> None:
    inp, out = io_json(
        {
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "x"}]),
            "gen_ai.output.messages": '[{"role":"assistant"}]',
        }
    )
    assert inp is None
    assert out == [{"role": "assistant"}]


def test_system_instructions_leave_a_non_list_input_alone() -> None:
    assert _with_instructions("Be terse.", messages='{"prompt": "hi"}') == {"prompt": "hi"}


def test_system_instructions_in_the_operation_details_event() -> None:
    event = (
        "gen_ai.client.inference.operation.details",
        {
            "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
            "gen_ai.input.messages": _USER,
        },
    )
    inp, _ = io_json({}, events=[event])
    assert inp == [{"role": "system", "content": "Be brief."}, *_USER]


def test_system_instructions_not_added_when_a_system_message_exists() -> None:
    raw = json.dumps([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])
    assert io({"gen_ai.input.messages": raw, "gen_ai.system_instructions": "ignored"}) == (
        raw,
        None,
    )


def test_structured_values_become_compact_json_text() -> None:
    inp, _ = io({"gen_ai.input.messages": [{"role": "user", "content": "Hi"}]})
    assert inp == '[{"role":"user","content":"Hi"}]'


def test_tool_call_arguments_and_result() -> None:
    assert io({"gen_ai.tool.call.arguments": '{"a":1}', "gen_ai.tool.call.result": "3"}) == (
        '{"a":1}',
        "3",
    )


def test_operation_details_event() -> None:
    event = (
        "gen_ai.client.inference.operation.details",
        {
            "gen_ai.input.messages": [
                {"role": "user", "parts": [{"type": "text", "content": "Q"}]}
            ],
            "gen_ai.output.messages": [{"role": "assistant", "parts": []}],
        },
    )
    inp, out = io_json({}, events=[event])
    assert inp == [{"role": "user", "parts": [{"type": "text", "content": "Q"}]}]
    assert out == [{"role": "assistant", "parts": []}]


def test_operation_details_split_over_several_events_are_merged() -> None:
    # strands-agents 1.62 with gen_ai_latest_experimental (tests/fixtures/otlp/
    # strands_latest.json): system instructions, input and output in three events.
    detail = "gen_ai.client.inference.operation.details"
    events = [
        (detail, {"gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}]}),
        (detail, {"gen_ai.input.messages": _USER}),
        (detail, {"gen_ai.output.messages": [{"role": "assistant", "parts": []}]}),
        (detail, {"gen_ai.output.messages": [{"role": "ignored", "parts": []}]}),
    ]
    inp, out = io_json({}, events=events)
    assert inp == [{"role": "system", "content": "Be brief."}, *_USER]
    assert out == [{"role": "assistant", "parts": []}]


def test_livekit_pii_names_of_livekit_agents_1_8() -> None:
    # livekit-agents 1.8.9 (tests/fixtures/otlp/livekit.json): content behind lk.pii.*
    turn = {"lk.pii.user_input": "Weather?", "lk.pii.response.text": "Sunny."}
    assert io(turn) == ("Weather?", "Sunny.")
    tool = {
        "gen_ai.tool.name": "get_weather",
        "lk.pii.function_tool.arguments": '{"city": "Paris"}',
        "lk.pii.function_tool.output": "sunny",
        "gen_ai.tool.call.arguments": '{"city": "Paris"}',
        "gen_ai.tool.call.result": '"sunny"',
    }
    assert io(tool) == ('{"city": "Paris"}', "sunny")
    # the older names still come first
    assert io({"lk.chat_ctx": "old", "lk.pii.chat_ctx": "new"}) == ("old", None)


def test_deprecated_message_events() -> None:
    events = [
        ("gen_ai.system.message", {"content": "sys"}),
        ("gen_ai.user.message", {"content": "hi"}),
        ("exception", {"exception.message": "ignored"}),
        ("gen_ai.choice", {"index": 0, "finish_reason": "stop"}),
        ("gen_ai.choice", {"index": 1, "finish_reason": "length"}),
    ]
    inp, out = io_json({}, events=events)
    assert inp == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    assert out == [{"index": 0, "finish_reason": "stop"}, {"index": 1, "finish_reason": "length"}]


def test_semantic_kernel_content_events() -> None:
    events = [
        ("gen_ai.content.prompt", {"gen_ai.prompt": "What is 2+2?"}),
        ("gen_ai.content.completion", {"gen_ai.completion": "4"}),
    ]
    assert io({}, events=events) == ("What is 2+2?", "4")


def test_logfire_events_attribute() -> None:
    events = [
        {"event.name": "gen_ai.user.message", "content": "Hi"},
        {"event.name": "gen_ai.choice", "message": {"content": "Hello"}},
    ]
    inp, out = io_json({"events": json.dumps(events)})
    assert inp == [events[0]]
    assert out == events[1]


def test_google_adk_tool_fallback() -> None:
    assert io(
        {
            "gcp.vertex.agent.llm_request": "{}",
            "gcp.vertex.agent.tool_call_args": '{"city":"Oslo"}',
            "gcp.vertex.agent.tool_response": '{"t":3}',
        }
    ) == ('{"city":"Oslo"}', '{"t":3}')


def test_pydantic_ai_agent_messages_with_instructions() -> None:
    messages = [{"role": "user", "parts": []}]
    inp, out = io(
        {
            "pydantic_ai.all_messages": json.dumps(messages),
            "gen_ai.system_instructions": "Be nice.",
            "final_result": "done",
        },
        scope_name="pydantic-ai",
    )
    assert inp is not None
    assert json.loads(inp) == [{"role": "system", "content": "Be nice."}, *messages]
    assert out == "done"


@pytest.mark.parametrize(
    ("attributes", "expected_output"),
    [
        (
            {"ai.response.text": "Hi", "ai.response.toolCalls": '[{"toolName":"t"}]'},
            {"role": "assistant", "content": "Hi", "tool_calls": [{"toolName": "t"}]},
        ),
        ({"ai.response.text": "", "ai.response.object": '{"a":1}'}, {"a": 1}),
        ({"ai.toolCall.result": '{"ok":true}'}, {"ok": True}),
        ({"gen_ai.output.messages": '[{"role":"assistant"}]'}, [{"role": "assistant"}]),
    ],
)
def test_vercel_outputs(attributes: dict[str, Any], expected_output: Any) -> None:
    _, out = io(attributes, scope_name="ai")
    assert out is not None
    assert json.loads(out) == expected_output


def test_vercel_input_order_and_gap_fill() -> None:
    assert io({"ai.prompt": "p", "ai.prompt.messages": "m"}, scope_name="ai")[0] == "m"
    assert io({"gen_ai.input.messages": "[1]"}, scope_name="ai")[0] == "[1]"


def test_no_source_no_io() -> None:
    assert io({"http.method": "GET"}) == (None, None)


def test_vercel_gaps_take_system_instructions_and_tool_call_attributes() -> None:
    # AI SDK >= 5 model span: no ai.prompt*, GenAI semconv messages with system instructions
    inp, out = io_json(
        {
            "gen_ai.system_instructions": '[{"type":"text","content":"Be brief."}]',
            "gen_ai.input.messages": json.dumps(_USER),
        },
        scope_name="ai",
    )
    assert inp == [{"role": "system", "content": "Be brief."}, *_USER]
    assert out is None
    # AI SDK 7 tool span: only gen_ai.tool.call.arguments / .result
    assert io(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "weather",
            "gen_ai.tool.call.arguments": '{"city":"Oslo"}',
            "gen_ai.tool.call.result": '{"t":3}',
        },
        scope_name="ai",
    ) == ('{"city":"Oslo"}', '{"t":3}')
    # a side the AI SDK sent itself is kept
    assert io({"ai.toolCall.args": '{"a":1}', "gen_ai.tool.call.result": "r"}, scope_name="ai") == (
        '{"a":1}',
        "r",
    )
