"""Trace-level fields one span carries (docs/reference/langfuse.md §1.6, sources from §1.8).

Only values set on the span itself (or its resource, for trace metadata) are taken; deriving a
trace from its root span is the processors' job. Source order, first truthy value wins:

- is_root: no parent span, or ``langfuse.internal.as_root`` is ``true`` / ``"true"``;
- name: ``langfuse.trace.name``;
- user_id: ``langfuse.user.id`` › ``user.id`` › ``langfuse.observation.metadata.langfuse_user_id``
  › ``langfuse.trace.metadata.langfuse_user_id`` › ``ai.telemetry.metadata.userId``;
- session_id: ``langfuse.session.id`` › ``session.id`` › ``gen_ai.conversation.id`` › the two
  ``langfuse_session_id`` metadata keys › ``ai.telemetry.metadata.sessionId``;
- tags: ``langfuse.trace.tags`` › ``langfuse.tags`` › the two ``langfuse_tags`` metadata keys ›
  ``ai.telemetry.metadata.tags`` › ``tag.tags``;
- public: ``langfuse.trace.public`` › ``langfuse.public`` (``true`` or ``"true"``);
- input / output: ``langfuse.trace.input`` / ``langfuse.trace.output`` (as given);
- metadata: resource then span ``langfuse.trace.metadata(.*)`` entries (see ``metadata.py``).

Non-string ids are stored as JSON text. Tags: a list gives its items as strings; a string
starting with ``[`` is parsed as a JSON array; a string with commas is split and trimmed; any
other string is one tag. Tags are deduplicated (order kept) and empty tags dropped.
"""

from __future__ import annotations

from typing import Any, Final

from ingest.mapping.values import Value, js_string, json_encode, json_text, loads_or_none, truthy
from ingest.mapping.view import SpanView, presence_bit

__all__ = ["SESSION_ID_SOURCES", "TAG_SOURCES", "USER_ID_SOURCES", "parse_tags", "trace_fields"]

Source = tuple[str, bool]
"""(attribute key, value is SDK-≥5 JSON text when the sender JSON-encodes metadata values)."""

USER_ID_SOURCES: Final[tuple[Source, ...]] = (
    ("langfuse.user.id", False),
    ("user.id", False),
    ("langfuse.observation.metadata.langfuse_user_id", True),
    ("langfuse.trace.metadata.langfuse_user_id", True),
    ("ai.telemetry.metadata.userId", False),
)
SESSION_ID_SOURCES: Final[tuple[Source, ...]] = (
    ("langfuse.session.id", False),
    ("session.id", False),
    ("gen_ai.conversation.id", False),
    ("langfuse.observation.metadata.langfuse_session_id", True),
    ("langfuse.trace.metadata.langfuse_session_id", True),
    ("ai.telemetry.metadata.sessionId", False),
)
TAG_SOURCES: Final[tuple[Source, ...]] = (
    ("langfuse.trace.tags", False),
    ("langfuse.tags", False),
    ("langfuse.observation.metadata.langfuse_tags", True),
    ("langfuse.trace.metadata.langfuse_tags", True),
    ("ai.telemetry.metadata.tags", False),
    ("tag.tags", False),
)


_TRACE_KEYS: Final[frozenset[str]] = frozenset(
    {
        "langfuse.internal.as_root",
        "langfuse.trace.name",
        "langfuse.trace.public",
        "langfuse.public",
        "langfuse.trace.input",
        "langfuse.trace.output",
        *(
            key
            for sources in (USER_ID_SOURCES, SESSION_ID_SOURCES, TAG_SOURCES)
            for key, _ in sources
        ),
    }
)
"""Every span attribute read here: a span with none of them (most spans) has only ``is_root`` and
metadata."""

_TRACE_BIT: Final = presence_bit(_TRACE_KEYS)


def trace_fields(
    view: SpanView, *, is_root: bool, trace_metadata: dict[str, str]
) -> dict[str, Any]:
    """``TraceFields`` of one span, as the keyword arguments of its set fields (the record is
    built in one constructor call, ``span.map_span``).

    Args:
        view: the span.
        is_root: the span has no parent (after id normalisation); ``as_root`` is checked here.
        trace_metadata: the span's own trace-metadata entries (``metadata.metadata_entries``);
            resource-level entries are merged underneath.
    """
    metadata = view.resource.trace_metadata
    if trace_metadata:
        metadata = {**metadata, **trace_metadata}
    if not view.may_have(_TRACE_BIT):
        return {"is_root": is_root, "metadata": metadata} if metadata else {"is_root": is_root}
    a = view.attributes
    as_root = a.get("langfuse.internal.as_root")
    fields: dict[str, Any] = {"is_root": is_root or as_root is True or as_root == "true"}
    if metadata:
        fields["metadata"] = metadata
    name = a.get("langfuse.trace.name")
    if truthy(name):
        fields["name"] = _as_text(name)
    json_values = view.json_metadata_values
    user_id = _first(a, USER_ID_SOURCES, json_values)
    if user_id is not None:
        fields["user_id"] = _as_text(user_id)
    session_id = _first(a, SESSION_ID_SOURCES, json_values)
    if session_id is not None:
        fields["session_id"] = _as_text(session_id)
    tags = _first(a, TAG_SOURCES, json_values)
    if tags is not None:
        fields["tags"] = parse_tags(tags)
    public = _public(a)
    if public is not None:
        fields["public"] = public
    trace_input = a.get("langfuse.trace.input")
    if trace_input is not None:
        fields["input"] = json_text(trace_input)
    trace_output = a.get("langfuse.trace.output")
    if trace_output is not None:
        fields["output"] = json_text(trace_output)
    return fields


def _first(a: dict[str, Value], sources: tuple[Source, ...], json_values: bool) -> Value:
    for key, sdk_json in sources:
        value = a.get(key)
        if value is not None and truthy(value):
            if sdk_json and json_values and isinstance(value, str):
                parsed = loads_or_none(value)
                if parsed is not None:
                    return parsed
            return value
    return None


def _as_text(value: Value) -> str:
    return value if isinstance(value, str) else json_encode(value)


def _public(a: dict[str, Value]) -> bool | None:
    value = a.get("langfuse.trace.public")
    if value is None:
        value = a.get("langfuse.public")
    if value is None:
        return None
    return value is True or value == "true"


def parse_tags(value: Value) -> list[str]:
    """Tags from one source value (rules in the module docstring); ``[]`` for other types."""
    items: list[str]
    if isinstance(value, list):
        items = [js_string(item) for item in value]
    elif isinstance(value, str):
        items = []
        text = value.strip()
        parsed = loads_or_none(text) if text.startswith("[") else None
        if isinstance(parsed, list):
            items = [js_string(item) for item in parsed]
        elif "," in value:
            items = [part.strip() for part in value.split(",")]
        else:
            items = [value]
    else:
        return []
    seen: dict[str, None] = {}
    for item in items:
        if item and item not in seen:
            seen[item] = None
    return list(seen)
