"""``gen_ai.system_instructions`` put in front of the input messages
(docs/reference/langfuse.md §1.11 steps 4, 15 and 19).

Follows Langfuse's ``prependSystemInstructions`` / ``parseSystemInstructions``
(``packages/shared/src/server/otel/OtelIngestionProcessor.ts``, issue langfuse#15336):

- only an input that is truthy and is (or parses to) a list of messages gets instructions, and
  only when none of its messages has ``role: "system"``;
- the GenAI semconv "parts" shape ``[{"type": "text", "content": "..."}]`` (pydantic-ai, OpenLLMetry
  Anthropic, Microsoft Agent Framework, any semconv >= 1.37 emitter) becomes ONE message
  ``{"role": "system", "content": "<texts joined with \\n>"}``;
- a list of complete messages ``[{"role"?, "parts": [...]}]`` (LiteLLM) is kept message by
  message, a missing role becoming ``system``; a list mixing both shapes takes the text path, where
  a structured entry contributes the text of its parts;
- a string (JSON text of a string, or text that is not JSON) is one system message;
- anything else (numbers, booleans, objects, empty text) adds nothing.
"""

from __future__ import annotations

from typing import Final

import orjson

from ingest.mapping.values import Value, truthy

__all__ = ["system_messages", "with_system_instructions"]

_NOT_JSON: Final = object()


def with_system_instructions(messages: Value, instructions: Value) -> Value:
    """``messages`` with the system message(s) of ``instructions`` in front.

    Args:
        messages: the input: a list of messages or its JSON text.
        instructions: the ``gen_ai.system_instructions`` value (JSON text or decoded value).

    Returns:
        A new list when something was prepended; otherwise ``messages`` unchanged (no input, no
        instructions, not a list, a system message already present, or nothing usable).
    """
    if not truthy(messages) or not truthy(instructions):
        return messages
    parsed = _parse(messages) if isinstance(messages, str) else messages
    if not isinstance(parsed, list):
        return messages
    for message in parsed:
        if isinstance(message, dict) and message.get("role") == "system":
            return messages
    system = system_messages(instructions)
    if not system:
        return messages
    return [*system, *parsed]


def system_messages(instructions: Value) -> list[dict[str, Value]]:
    """The system message(s) ``instructions`` stand for (shapes in the module docstring)."""
    parsed = instructions
    if isinstance(instructions, str):
        parsed = _parse(instructions)
        if parsed is _NOT_JSON:
            parsed = instructions
    if isinstance(parsed, str):
        return [{"role": "system", "content": parsed}] if parsed else []
    if not isinstance(parsed, list):
        return []
    structured = [entry for entry in parsed if _is_structured(entry)]
    if structured and not any(
        isinstance(entry, dict) and isinstance(entry.get("content"), str) for entry in parsed
    ):
        return [_as_system(entry) for entry in structured]
    return _as_text(parsed)


def _is_structured(entry: Value) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("parts"), list)


def _as_system(entry: dict[str, Value]) -> dict[str, Value]:
    message = dict(entry)
    role = message.get("role")
    if not isinstance(role, str) or not role:
        message["role"] = "system"
    return message


def _as_text(entries: list[Value]) -> list[dict[str, Value]]:
    texts: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            if entry:
                texts.append(entry)
        elif isinstance(entry, dict):
            content = entry.get("content")
            if isinstance(content, str) and content:
                texts.append(content)
                continue
            parts = entry.get("parts")
            if isinstance(parts, list):
                for part in parts:
                    text = part.get("content") if isinstance(part, dict) else None
                    if isinstance(text, str) and text:
                        texts.append(text)
    return [{"role": "system", "content": "\n".join(texts)}] if texts else []


def _parse(text: str) -> Value:
    """``JSON.parse(text)``; ``_NOT_JSON`` when it is not JSON (so JSON ``null`` stays None)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _NOT_JSON
