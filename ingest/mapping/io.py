"""Observation input/output of a span (docs/reference/langfuse.md §1.11): ordered sources, first hit
wins.

``extract_io`` returns raw values (str, list, dict, ...); the caller stores a string as given and
anything else as compact JSON text (``values.json_text``). Steps, in order:

0. ``langfuse.observation.input`` / ``.output``
1. scope ``genkit-tracer``: ``genkit:input`` (``.messages``) / ``genkit:output`` (``.message``)
2. scope ``ai`` (Vercel AI SDK): ``ai.prompt.messages`` › ``ai.prompt`` › ``ai.toolCall.args`` /
   ``ai.response.text`` (+ ``ai.response.toolCalls``) › ... ; a missing side is filled from step
   19 (``gen_ai.input/output.messages`` with system instructions, else
   ``gen_ai.tool.call.arguments`` / ``.result``; Langfuse
   ``extractOpenTelemetryGenAiInputAndOutput``)
3. scope ``@flue/opentelemetry``: ``flue.*`` input/result keys
4. span event ``gen_ai.client.inference.operation.details``
5. span events ``gen_ai.{system,user,assistant,tool}.message`` / ``gen_ai.choice``
6. Semantic Kernel events ``gen_ai.content.prompt`` / ``gen_ai.content.completion``
7. Google ADK ``gcp.vertex.agent.*``
8. Logfire ``prompt`` / ``all_messages_events``
9. LiveKit ``lk.*``: input ``lk.input_text`` › ``lk.user_transcript`` › ``lk.chat_ctx``, output
   ``lk.function_tool.output`` › ``lk.response.text`` (Langfuse); then, deliberately, the names
   LiveKit Agents >= 1.8 gives them (``livekit/agents/telemetry/trace_types.py``: content behind
   an ``lk.pii.`` segment) ``lk.pii.input_text`` › ``lk.pii.user_transcript`` ›
   ``lk.pii.chat_ctx`` › ``lk.pii.user_input`` › ``lk.pii.function_tool.arguments`` and
   ``lk.pii.function_tool.output`` › ``lk.pii.response.text``; Langfuse reads only the older
   names, so the turn, LLM node and tool spans of current LiveKit show no content there.
10. Logfire ``events`` (JSON array: ``gen_ai.choice`` items → output, the rest → input)
11. MLflow ``mlflow.spanInputs`` / ``mlflow.spanOutputs``
12. Traceloop ``traceloop.entity.input`` / ``.output``
13. OpenInference ``input.value`` / ``output.value``
14. Pydantic / Pipecat ``input`` / ``output``
15. scope ``pydantic-ai``: ``pydantic_ai.all_messages`` (+ system instructions,
    ``system_instructions.py``) / ``final_result``
16. Pydantic-AI tools ``tool_arguments`` / ``tool_response``
17. OpenLLMetry flattened ``gen_ai.prompt.*`` / ``gen_ai.completion.*`` (``nested.py``)
18. OpenInference flattened ``llm.input_messages.*`` / ``llm.output_messages.*``
19. ``gen_ai.input.messages`` (+ ``gen_ai.system_instructions``, ``system_instructions.py``) /
    ``gen_ai.output.messages``; else ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result``

Hits use JavaScript truthiness, as Langfuse does (an empty string is "no value").
Deliberate deviations: in step 2 a JSON-string ``ai.response.toolCalls`` is embedded as parsed
JSON (Langfuse nests the string); in steps 17-18 an absent side is None (Langfuse gives ``{}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.mapping.attributes import decode_key_values
from ingest.mapping.nested import rebuild_flattened
from ingest.mapping.system_instructions import with_system_instructions
from ingest.mapping.values import Value, loads_or_none, truthy
from ingest.mapping.view import SpanView, index_keys, presence_bit

__all__ = ["IO_ATTRIBUTE_KEYS", "IO_ATTRIBUTE_PREFIXES", "events_io", "extract_io"]

IO_ATTRIBUTE_KEYS: Final[frozenset[str]] = frozenset(
    {
        # Langfuse
        "langfuse.trace.input",
        "langfuse.trace.output",
        "langfuse.observation.input",
        "langfuse.observation.output",
        # Genkit
        "genkit:input",
        "genkit:output",
        # Vercel AI SDK
        "ai.prompt.messages",
        "ai.prompt",
        "ai.toolCall.args",
        "ai.response.text",
        "ai.result.text",
        "ai.toolCall.result",
        "ai.response.object",
        "ai.result.object",
        "ai.response.toolCalls",
        "ai.result.toolCalls",
        # Flue
        "flue.turn.input",
        "flue.tool.arguments",
        "flue.task.prompt",
        "flue.workflow.payload",
        "flue.turn.output",
        "flue.tool.result",
        "flue.task.result",
        "flue.operation.result",
        "flue.workflow.result",
        # Google ADK
        "gcp.vertex.agent.llm_request",
        "gcp.vertex.agent.llm_response",
        "gcp.vertex.agent.tool_call_args",
        "gcp.vertex.agent.tool_response",
        # Logfire
        "prompt",
        "all_messages_events",
        "events",
        # LiveKit
        "lk.input_text",
        "lk.user_transcript",
        "lk.chat_ctx",
        "lk.user_input",
        "lk.function_tool.output",
        "lk.response.text",
        "lk.pii.input_text",
        "lk.pii.user_transcript",
        "lk.pii.chat_ctx",
        "lk.pii.user_input",
        "lk.pii.function_tool.arguments",
        "lk.pii.function_tool.output",
        "lk.pii.response.text",
        # MLflow
        "mlflow.spanInputs",
        "mlflow.spanOutputs",
        # Traceloop
        "traceloop.entity.input",
        "traceloop.entity.output",
        # OpenInference / SmolAgents
        "input.value",
        "output.value",
        # Pydantic AI
        "final_result",
        "pydantic_ai.all_messages",
        "tool_arguments",
        "tool_response",
        # Pydantic / Pipecat
        "input",
        "output",
        # OTel GenAI semconv
        "gen_ai.system_instructions",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    }
)
"""Attributes consumed as input/output: never copied into ``metadata.attributes`` (§1.12)."""

IO_ATTRIBUTE_PREFIXES: Final[tuple[str, ...]] = (
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.input_messages",
    "llm.output_messages",
)
"""Flattened message families, also kept out of ``metadata.attributes`` (§1.12)."""

_MESSAGE_EVENT_ROLES: Final = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_OPERATION_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"

_NOTHING: Final[tuple[Value, Value]] = (None, None)


def extract_io(view: SpanView) -> tuple[Value, Value]:
    """``(input, output)`` raw values of one span; ``(None, None)`` when no source matches."""
    return _extract(view.attributes, view.events, view.scope.name, view.groups, view.present)


def events_io(events: Sequence[Span.Event], scope: str) -> tuple[Value, Value] | None:
    """``(input, output)`` of GenAI events alone (steps 4-6), or None when none of them hits.

    Used for GenAI events that arrive as OTLP log records (``ingest.mapping.logs``), so they
    follow exactly the rules of span events.
    """
    return _from_events(events, scope)


def _extract(
    a: dict[str, Value],
    events: Sequence[Span.Event],
    scope: str,
    groups: dict[str, list[str]],
    present: int,
) -> tuple[Value, Value]:
    # ``groups``, ``present``: ``view.index_keys(a)`` (``present`` may be ``view.ALL_PRESENT``).
    # 0. Langfuse SDK
    inp, out = a.get("langfuse.observation.input"), a.get("langfuse.observation.output")
    if inp is not None or out is not None:
        return inp, out

    # 1. Genkit
    if scope == "genkit-tracer":
        hit = _genkit(a)
        if hit is not None:
            return hit

    # 2. Vercel AI SDK: always answers for scope "ai"
    if scope == "ai":
        return _vercel(a)

    # 3. Flue
    if scope == "@flue/opentelemetry":
        inp = _first_truthy(
            a,
            ("flue.turn.input", "flue.tool.arguments", "flue.task.prompt", "flue.workflow.payload"),
        )
        out = _first_truthy(
            a,
            (
                "flue.turn.output",
                "flue.tool.result",
                "flue.task.result",
                "flue.operation.result",
                "flue.workflow.result",
            ),
        )
        if truthy(inp) or truthy(out):
            return inp, out

    # 4-6. GenAI span events
    if events:
        hit = _from_events(events, scope)
        if hit is not None:
            return hit

    # 7-16. Framework-specific attributes (skipped at once when none is present)
    if present & _STEP_7_TO_16_BIT:
        hit = _framework_attributes(a, scope)
        if hit is not None:
            return hit

    # 17-18. Flattened message families
    for in_prefix, out_prefix in _FLATTENED_FAMILIES:
        in_keys, out_keys = groups.get(in_prefix), groups.get(out_prefix)
        if in_keys or out_keys:
            return (
                rebuild_flattened(a, in_keys, in_prefix) if in_keys else None,
                rebuild_flattened(a, out_keys, out_prefix) if out_keys else None,
            )

    # 19. OTel GenAI semconv attributes
    hit = _semconv_messages(a)
    if hit is not None:
        return hit
    return _NOTHING


_LIVEKIT_INPUT: Final = (
    "lk.input_text",
    "lk.user_transcript",
    "lk.chat_ctx",
    "lk.pii.input_text",
    "lk.pii.user_transcript",
    "lk.pii.chat_ctx",
    "lk.pii.user_input",
    "lk.pii.function_tool.arguments",
)
_LIVEKIT_OUTPUT: Final = (
    "lk.function_tool.output",
    "lk.response.text",
    "lk.pii.function_tool.output",
    "lk.pii.response.text",
)

_STEP_7_TO_16_KEYS: Final[frozenset[str]] = frozenset(
    {
        *_LIVEKIT_INPUT,
        *_LIVEKIT_OUTPUT,
        "gcp.vertex.agent.llm_request",
        "gcp.vertex.agent.llm_response",
        "gcp.vertex.agent.tool_call_args",
        "gcp.vertex.agent.tool_response",
        "prompt",
        "all_messages_events",
        "lk.input_text",
        "lk.user_transcript",
        "lk.chat_ctx",
        "lk.function_tool.output",
        "lk.response.text",
        "events",
        "mlflow.spanInputs",
        "mlflow.spanOutputs",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "input.value",
        "output.value",
        "input",
        "output",
        "pydantic_ai.all_messages",
        "final_result",
        "tool_arguments",
        "tool_response",
    }
)
"""Every attribute steps 7-16 read: when a span has none of them, those steps are skipped."""

_STEP_7_TO_16_BIT: Final = presence_bit(_STEP_7_TO_16_KEYS)


def _framework_attributes(a: dict[str, Value], scope: str) -> tuple[Value, Value] | None:
    """Steps 7-16 of the module docstring; None when none of them hits."""
    # 7. Google ADK
    inp, out = a.get("gcp.vertex.agent.llm_request"), a.get("gcp.vertex.agent.llm_response")
    if inp == "{}" or not truthy(inp):
        inp = a.get("gcp.vertex.agent.tool_call_args")
    if out == "{}" or not truthy(out):
        out = a.get("gcp.vertex.agent.tool_response")
    if truthy(inp) or truthy(out):
        return inp, out

    # 8. Logfire
    hit = _pair(a, "prompt", "all_messages_events")
    if hit is not None:
        return hit

    # 9. LiveKit; the ``lk.pii.*`` names are LiveKit Agents >= 1.8 (module docstring)
    inp = _first_present(a, _LIVEKIT_INPUT)
    out = _first_truthy(a, _LIVEKIT_OUTPUT)
    if truthy(inp) or truthy(out):
        return inp, out

    # 10. Logfire `events` attribute
    if "events" in a:
        hit = _logfire_events(a["events"])
        if hit is not None:
            return hit

    # 11-14, 15 (pydantic-ai agent), 16
    for in_key, out_key in _SIMPLE_PAIRS_BEFORE_PYDANTIC:
        hit = _pair(a, in_key, out_key)
        if hit is not None:
            return hit
    if scope == "pydantic-ai":
        inp = with_system_instructions(
            a.get("pydantic_ai.all_messages"), a.get("gen_ai.system_instructions")
        )
        out = a.get("final_result")
        if truthy(inp) or truthy(out):
            return inp, out
    hit = _pair(a, "tool_arguments", "tool_response")
    if hit is not None:
        return hit
    return None


_FLATTENED_FAMILIES: Final[tuple[tuple[str, str], ...]] = (
    ("gen_ai.prompt", "gen_ai.completion"),
    ("llm.input_messages", "llm.output_messages"),
)

_SIMPLE_PAIRS_BEFORE_PYDANTIC: Final[tuple[tuple[str, str], ...]] = (
    ("mlflow.spanInputs", "mlflow.spanOutputs"),
    ("traceloop.entity.input", "traceloop.entity.output"),
    ("input.value", "output.value"),
    ("input", "output"),
)


def _pair(a: dict[str, Value], in_key: str, out_key: str) -> tuple[Value, Value] | None:
    inp, out = a.get(in_key), a.get(out_key)
    if truthy(inp) or truthy(out):
        return inp, out
    return None


def _first_truthy(a: dict[str, Value], keys: tuple[str, ...]) -> Value:
    for key in keys:
        value = a.get(key)
        if value is not None and truthy(value):
            return value
    return None


def _first_present(a: dict[str, Value], keys: tuple[str, ...]) -> Value:
    for key in keys:
        value = a.get(key)
        if value is not None:
            return value
    return None


def _genkit(a: dict[str, Value]) -> tuple[Value, Value] | None:
    inp, out = a.get("genkit:input"), a.get("genkit:output")
    parsed_in = loads_or_none(inp) if isinstance(inp, str) else inp
    if isinstance(parsed_in, dict) and "messages" in parsed_in:
        inp = parsed_in["messages"]
    parsed_out = loads_or_none(out) if isinstance(out, str) else out
    if isinstance(parsed_out, dict) and "message" in parsed_out:
        out = parsed_out["message"]
    if truthy(inp) or truthy(out):
        return inp, out
    return None


def _vercel(a: dict[str, Value]) -> tuple[Value, Value]:
    inp = _first_present_key(a, ("ai.prompt.messages", "ai.prompt", "ai.toolCall.args"))
    out: Value
    if "ai.response.text" in a and "ai.response.toolCalls" in a:
        calls = a["ai.response.toolCalls"]
        parsed = loads_or_none(calls) if isinstance(calls, str) else None
        out = {
            "role": "assistant",
            "content": a["ai.response.text"],
            "tool_calls": parsed if parsed is not None else calls,
        }
    elif truthy(a.get("ai.response.text")):
        out = a["ai.response.text"]
    else:
        out = _first_present_key(
            a,
            (
                "ai.result.text",
                "ai.toolCall.result",
                "ai.response.object",
                "ai.result.object",
                "ai.response.toolCalls",
                "ai.result.toolCalls",
            ),
        )
    if inp is None or out is None:
        # AI SDK >= 5 with the GenAI semconv (AI SDK 7 tool spans carry only these)
        hit = _semconv_messages(a)
        if hit is not None:
            if inp is None:
                inp = hit[0]
            if out is None:
                out = hit[1]
    return inp, out


def _first_present_key(a: dict[str, Value], keys: tuple[str, ...]) -> Value:
    """Value of the first key present (JavaScript ``key in attributes``)."""
    for key in keys:
        if key in a:
            return a[key]
    return None


def _from_events(events: Sequence[Span.Event], scope: str) -> tuple[Value, Value] | None:
    # 4. GenAI semconv >= 1.37: the content attributes of the operation details event(s).
    # Strands (``gen_ai_latest_experimental``) writes system instructions, input and output in
    # separate events on one span, so their attributes are merged, the first value of a key
    # winning (deliberate: reading the first event alone loses the input and the output).
    details: dict[str, Value] = {}
    for event in events:
        if event.name == _OPERATION_DETAILS_EVENT:
            for key, value in decode_key_values(event.attributes).items():
                if value is not None:
                    details.setdefault(key, value)
    if details:
        hit = _semconv_messages(details)
        if hit is not None:
            return hit
    # 5. Deprecated per-message events.
    inputs: list[Value] = []
    outputs: list[Value] = []
    for event in events:
        role = _MESSAGE_EVENT_ROLES.get(event.name)
        if role is not None:
            message: dict[str, Value] = {"role": role}
            message.update(decode_key_values(event.attributes))
            inputs.append(message)
        elif event.name == "gen_ai.choice":
            outputs.append(decode_key_values(event.attributes))
    if inputs or outputs:
        out: Value = outputs[0] if len(outputs) == 1 else (outputs or None)
        return (inputs or None), out
    # 6. Legacy Semantic Kernel events: their attributes, run through this extractor again.
    prompt_event = next((e for e in events if e.name == "gen_ai.content.prompt"), None)
    completion_event = next((e for e in events if e.name == "gen_ai.content.completion"), None)
    if prompt_event is None and completion_event is None:
        return None
    prompt_attrs = decode_key_values(prompt_event.attributes) if prompt_event else {}
    completion_attrs = decode_key_values(completion_event.attributes) if completion_event else {}
    inp = _extract(prompt_attrs, (), scope, *index_keys(prompt_attrs))[0]
    out = _extract(completion_attrs, (), scope, *index_keys(completion_attrs))[1]
    return (inp if truthy(inp) else prompt_attrs), (out if truthy(out) else completion_attrs)


def _logfire_events(raw: Value) -> tuple[Value, Value] | None:
    items = loads_or_none(raw) if isinstance(raw, str) else raw
    if not isinstance(items, list):
        return None
    choice: Value = None
    inputs: list[Value] = []
    for item in items:
        if isinstance(item, dict) and item.get("event.name") == "gen_ai.choice":
            if choice is None:
                choice = item
        else:
            inputs.append(item)
    if choice is None and not inputs:
        return None
    return (inputs or None), choice


def _semconv_messages(a: dict[str, Value]) -> tuple[Value, Value] | None:
    inp = with_system_instructions(
        a.get("gen_ai.input.messages"), a.get("gen_ai.system_instructions")
    )
    out = a.get("gen_ai.output.messages")
    if truthy(inp) or truthy(out):
        return inp, out
    return _pair(a, "gen_ai.tool.call.arguments", "gen_ai.tool.call.result")
