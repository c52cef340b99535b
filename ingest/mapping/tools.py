"""Tool definitions move from the metadata into the input (docs/reference/langfuse.md §1.8
"tool_definitions").

Follows Langfuse's ``normalizeToolMetadataForObservation``
(``packages/shared/src/server/ingestion/extractToolsBackend.ts``): tool definitions found in

1. the metadata key ``tools`` (every item a named tool),
2. span attribute ``ai.prompt.tools`` (Vercel AI SDK; items may be JSON text; provider tools
   without a name, only a ``type``, count too),
3. ``gen_ai.tool.definitions`` (GenAI semconv; every item a named tool),
4. ``model_request_parameters.function_tools`` (pydantic-ai; the other parameters stay),
5. ``llm.tools.<N>.tool.json_schema`` (OpenInference), by ``N``,

are deduplicated by name (the first wins) and joined to the input: a list of messages becomes
``{"messages": [...], "tools": [...]}``, an object gets (or extends) its ``tools``, text becomes
``{"prompt": text, "tools": [...]}``, no input ``{"tools": [...]}``. The attributes a source was
read from leave ``metadata.attributes`` (dropped when nothing is left) and ``tools`` leaves the
metadata. When no tool is found, or the input is a number or boolean, nothing changes. A
source whose items are not all tools is left where it is. A tool is "named" when it, or its
``function`` object (OpenAI Chat shape), has a non-empty ``name``.

Attribute sources are only read for spans whose attributes go to ``metadata.attributes``
(not Langfuse SDK scopes). The checks cost a few dict lookups per span; the work happens only
when a source is present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

import orjson

from ingest.mapping.values import Value, json_encode
from ingest.mapping.view import SpanView

__all__ = ["TOOL_INDEX_PREFIX", "ToolDefinitions", "find_tool_definitions", "input_with_tools"]

TOOL_INDEX_PREFIX: Final = "llm.tools."
"""OpenInference ``llm.tools.<N>.tool.json_schema`` family (a ``view.PREFIX_GROUPS`` entry)."""

_INDEXED_SCHEMA: Final = re.compile(r"llm\.tools\.(\d+)\.tool\.json_schema")
_VERCEL_TOOLS: Final = "ai.prompt.tools"
_SEMCONV_TOOLS: Final = "gen_ai.tool.definitions"
_PYDANTIC_PARAMETERS: Final = "model_request_parameters"
_NOT_JSON: Final = object()


@dataclass(slots=True)
class ToolDefinitions:
    """What ``find_tool_definitions`` found on one span.

    Attributes:
        tools: the definitions for the input, deduplicated by name, in source order.
        removed: span attribute keys that leave ``metadata.attributes``.
        replaced: span attributes whose stored value changes (pydantic-ai parameters without
            ``function_tools``).
        from_metadata: the metadata key ``tools`` was a source and leaves the metadata.
    """

    tools: list[Value]
    removed: set[str] = field(default_factory=set)
    replaced: dict[str, Value] = field(default_factory=dict)
    from_metadata: bool = False


def find_tool_definitions(view: SpanView, meta_tools: str | None) -> ToolDefinitions | None:
    """The tool definitions of one span, or None when it has none.

    Args:
        view: the span.
        meta_tools: the JSON text of its metadata key ``tools`` (span entries over resource
            trace metadata), None when absent.
    """
    a = view.attributes
    read_attributes = not view.scope.is_langfuse_sdk and (
        _VERCEL_TOOLS in a
        or _SEMCONV_TOOLS in a
        or _PYDANTIC_PARAMETERS in a
        or TOOL_INDEX_PREFIX in view.groups
    )
    if meta_tools is None and not read_attributes:
        return None
    found = ToolDefinitions(tools=[])
    if meta_tools is not None:
        listed = _tool_list(_parse(meta_tools), every=True, unnamed=False)
        if listed:
            found.tools.extend(listed)
            found.from_metadata = True
    if read_attributes:
        _from_attributes(view, found)
    found.tools = _dedupe(found.tools)
    return found if found.tools else None


def _from_attributes(view: SpanView, found: ToolDefinitions) -> None:
    a = view.attributes
    for key, unnamed in ((_VERCEL_TOOLS, True), (_SEMCONV_TOOLS, False)):
        if key in a:
            listed = _tool_list(a[key], every=True, unnamed=unnamed)
            if listed is not None:
                found.tools.extend(listed)
                found.removed.add(key)
    if _PYDANTIC_PARAMETERS in a:
        raw = a[_PYDANTIC_PARAMETERS]
        parameters = _parse(raw) if isinstance(raw, str) else raw
        if isinstance(parameters, dict):
            kept = dict(parameters)
            listed = _tool_list(parameters.get("function_tools"), every=True, unnamed=False)
            if listed is not None:
                found.tools.extend(listed)
                del kept["function_tools"]
            if not kept:
                found.removed.add(_PYDANTIC_PARAMETERS)
            else:
                found.replaced[_PYDANTIC_PARAMETERS] = (
                    json_encode(kept) if isinstance(raw, str) else kept
                )
    indexed = sorted(
        (int(match.group(1)), key)
        for key in view.keys_with(TOOL_INDEX_PREFIX)
        if (match := _INDEXED_SCHEMA.fullmatch(key))
    )
    for _, key in indexed:
        tool = _parse_if_string(a[key])
        if _is_tool(tool, unnamed=False):
            found.tools.append(tool)
            found.removed.add(key)


def input_with_tools(raw_input: Value, tools: list[Value]) -> tuple[bool, Value]:
    """``(True, input with tools)``, or ``(False, raw_input)`` when the input cannot hold them
    (Langfuse ``appendToolsToInput``; shapes in the module docstring)."""
    if isinstance(raw_input, str):
        parsed = _parse(raw_input)
        if parsed is _NOT_JSON:
            return True, {"prompt": raw_input, "tools": tools}
        joined, value = _join(parsed, tools)
        return (True, value) if joined else (False, raw_input)
    return _join(raw_input, tools)


def _join(value: Value, tools: list[Value]) -> tuple[bool, Value]:
    if isinstance(value, list):
        return True, {"messages": value, "tools": tools}
    if isinstance(value, dict):
        existing = value.get("tools")
        if existing is None:
            return True, {**value, "tools": tools}
        listed = _tool_list(existing, every=False, unnamed=True)
        if listed is None:
            return False, value
        return True, {**value, "tools": _dedupe([*listed, *tools])}
    if value is None:
        return True, {"tools": tools}
    if isinstance(value, str):
        return True, {"prompt": value, "tools": tools}
    return False, value


def _tool_list(value: Value, *, every: bool, unnamed: bool) -> list[Value] | None:
    """The tool definitions of a list (or its JSON text); ``[]`` for an empty list; None when
    it is not a list, has no tool, or (``every``) holds anything else. ``unnamed``: an object
    with a string ``type`` counts as a (provider) tool."""
    items = _parse(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        return None
    if not items:
        return []
    parsed = [_parse_if_string(item) for item in items]
    tools = [item for item in parsed if _is_tool(item, unnamed=unnamed)]
    if every and len(tools) != len(parsed):
        return None
    return tools or None


def _is_tool(value: Value, *, unnamed: bool) -> bool:
    if not isinstance(value, dict):
        return False
    if _tool_name(value):
        return True
    return unnamed and isinstance(value.get("type"), str)


def _tool_name(tool: Value) -> Value:
    """The name of a flat ``{name}`` or OpenAI Chat ``{function: {name}}`` tool, or None."""
    if not isinstance(tool, dict):
        return None
    function = tool.get("function")
    data = function if function is not None else tool
    return data.get("name") if isinstance(data, dict) else None


def _dedupe(tools: list[Value]) -> list[Value]:
    seen: set[str] = set()
    kept: list[Value] = []
    for tool in tools:
        name = _tool_name(tool)
        if name:
            key = name if isinstance(name, str) else json_encode(name)
            if key in seen:
                continue
            seen.add(key)
        kept.append(tool)
    return kept


def _parse_if_string(value: Value) -> Value:
    if isinstance(value, str):
        parsed = _parse(value)
        return value if parsed is _NOT_JSON else parsed
    return value


def _parse(text: str) -> Value:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _NOT_JSON
