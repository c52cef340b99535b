"""Observation and trace metadata of a span (docs/reference/langfuse.md §1.12, legacy shape).

``ObservationRecord.metadata`` is a map of top-level keys to **JSON text** (strings are JSON
strings: ``"acme"`` is stored as ``"\\"acme\\""``). For one span it holds, later sources winning:

1. resource trace metadata (resource ``langfuse.trace.metadata`` / ``.<k>``),
2. observation metadata: ``langfuse.observation.metadata`` (JSON object text) or, when that is
   absent, ``langfuse.metadata``; then every ``langfuse.observation.metadata.<k>``,
   ``langfuse.metadata.<k>`` and ``ai.telemetry.metadata.<k>`` attribute as key ``<k>``
   (except Vercel's ``userId``/``sessionId``/``tags``/``langfusePrompt``),
3. ``attributes``: JSON object of the span attributes minus input/output keys, metadata
   families and tool definitions moved into the input (``tools.py``), non-string values
   JSON-stringified (omitted for ``langfuse-sdk*`` scopes),
4. ``resourceAttributes``: JSON object of the resource attributes,
5. ``scope``: JSON object ``{name, version, attributes}``.

Trace metadata (``TraceFields.metadata``) is the same extraction with ``langfuse.trace.metadata``
in place of ``langfuse.observation.metadata`` (resource-level entries first).

Langfuse Python SDK ≥ 5 JSON-encodes every ``langfuse.*metadata.<k>`` value (``"\\"acme\\""``,
``"1"``, ``"true"``) so types survive; with ``json_values=True`` such values are taken as the JSON
text they already are (deliberate: the anchor predates v5; its changelog notes typed metadata).
A non-object blob, or one that fails to parse, is dropped (anchor: ``metadata_dropped``).
"""

from __future__ import annotations

from typing import Final

import orjson

from ingest.mapping.io import IO_ATTRIBUTE_KEYS, IO_ATTRIBUTE_PREFIXES
from ingest.mapping.tools import ToolDefinitions
from ingest.mapping.values import Value, json_encode, loads_or_none, truthy
from ingest.mapping.view import ResourceView, ScopeView, SpanView

__all__ = [
    "METADATA_EXCLUDED_PREFIXES",
    "OBSERVATION_METADATA",
    "TRACE_METADATA",
    "filtered_attributes",
    "metadata_entries",
    "metadata_value",
    "observation_metadata",
    "scope_metadata",
    "scope_metadata_json",
    "span_metadata",
]

OBSERVATION_METADATA: Final = "langfuse.observation.metadata"
TRACE_METADATA: Final = "langfuse.trace.metadata"
LANGFUSE_METADATA: Final = "langfuse.metadata"
VERCEL_METADATA: Final = "ai.telemetry.metadata"

_VERCEL_TRACE_KEYS: Final = frozenset(
    {
        "ai.telemetry.metadata.userId",
        "ai.telemetry.metadata.sessionId",
        "ai.telemetry.metadata.tags",
        "ai.telemetry.metadata.langfusePrompt",
    }
)

METADATA_EXCLUDED_PREFIXES: Final[tuple[str, ...]] = (
    *IO_ATTRIBUTE_PREFIXES,
    TRACE_METADATA,
    OBSERVATION_METADATA,
    VERCEL_METADATA,
)
"""Attribute families never copied into ``metadata.attributes`` (§1.12)."""

_EXCLUDED_GROUPS: Final = frozenset(METADATA_EXCLUDED_PREFIXES)


def metadata_value(raw: Value, json_values: bool) -> str:
    """JSON text for one metadata attribute value.

    With ``json_values`` (Langfuse SDK ≥ 5) a string that is valid JSON is already the encoded
    value and is kept as is; otherwise the value is JSON-encoded.
    """
    if json_values and isinstance(raw, str) and raw:
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            return raw
    return json_encode(raw)


def metadata_entries(
    attributes: dict[str, Value],
    groups: dict[str, list[str]],
    domain_prefix: str,
    json_values: bool,
) -> dict[str, str]:
    """Metadata entries (key → JSON text) of one attribute dict for one domain.

    Args:
        attributes: decoded span (or resource) attributes.
        groups: ``view.group_keys(attributes)``.
        domain_prefix: ``langfuse.observation.metadata`` or ``langfuse.trace.metadata``.
        json_values: values of ``langfuse.*metadata.<k>`` are JSON text already (SDK ≥ 5).
    """
    entries: dict[str, str] = {}
    blob = attributes.get(domain_prefix)
    if blob is None or not truthy(blob):
        blob = attributes.get(LANGFUSE_METADATA)
    if blob is not None and truthy(blob):
        parsed = loads_or_none(blob) if isinstance(blob, str) else blob
        if isinstance(parsed, dict):
            for key, value in parsed.items():
                entries[key] = json_encode(value)
    if not groups:
        return entries
    for prefix in (domain_prefix, LANGFUSE_METADATA, VERCEL_METADATA):
        keys = groups.get(prefix)
        if not keys:
            continue
        dotted = prefix + "."
        cut = len(dotted)
        is_langfuse = prefix != VERCEL_METADATA
        for key in keys:
            if key.startswith(dotted) and key not in _VERCEL_TRACE_KEYS:
                entries[key[cut:]] = metadata_value(attributes[key], json_values and is_langfuse)
    return entries


def filtered_attributes(attributes: dict[str, Value], groups: dict[str, list[str]]) -> str:
    """JSON object text of the span attributes kept in ``metadata.attributes`` (§1.12).

    Removes input/output keys (``io.IO_ATTRIBUTE_KEYS``) and ``METADATA_EXCLUDED_PREFIXES``
    families; non-string values become their JSON text (``100`` → ``"100"``).
    """
    excluded: set[str] = set()
    for prefix, keys in groups.items():  # a span has few groups: cheaper than each prefix's get
        if prefix in _EXCLUDED_GROUPS:
            excluded.update(keys)
    kept: dict[str, str] = {}
    for key, value in attributes.items():
        if key in IO_ATTRIBUTE_KEYS or key in excluded:
            continue
        kind = type(value)
        if kind is str:
            kept[key] = value
        elif kind is int:
            kept[key] = str(value)  # same text as JSON, without a serializer call
        else:
            kept[key] = json_encode(value)
    return json_encode(kept)


def scope_metadata_json(name: str, version: str, attributes: dict[str, Value]) -> str:
    """JSON text of ``metadata.scope``: ``{"name", "version" (when set), "attributes"}``."""
    scope: dict[str, Value] = {"name": name}
    if version:
        scope["version"] = version
    scope["attributes"] = attributes
    return json_encode(scope)


def observation_metadata(
    view: SpanView, observation_entries: dict[str, str], tools: ToolDefinitions | None = None
) -> dict[str, str]:
    """The full ``ObservationRecord.metadata`` map of one span (shape in the module docstring).

    ``tools``: tool definitions that moved into the input (``tools.py``): their attributes leave
    ``attributes`` (dropped when nothing is left) and, when it was a source, the key ``tools``
    leaves the metadata.
    """
    metadata = span_metadata(view, observation_entries, tools)
    metadata.update(scope_metadata(view.resource, view.scope))
    return metadata


def scope_metadata(resource: ResourceView, scope: ScopeView) -> dict[str, str]:
    """The metadata entries every span of one scope shares, ``resourceAttributes`` and ``scope``;
    they win over span entries of the same name (``span.shared_record`` puts them in the shared
    record once per scope)."""
    return {"resourceAttributes": resource.attributes_json, "scope": scope.metadata_json}


def span_metadata(
    view: SpanView, observation_entries: dict[str, str], tools: ToolDefinitions | None = None
) -> dict[str, str]:
    """``observation_metadata`` without the ``scope_metadata`` keys."""
    metadata = dict(view.resource.trace_metadata)
    metadata.update(observation_entries)
    if tools is not None and tools.from_metadata:
        del metadata["tools"]
    if not view.scope.is_langfuse_sdk:
        if tools is None or not (tools.removed or tools.replaced):
            metadata["attributes"] = filtered_attributes(view.attributes, view.groups)
        else:
            kept = {k: v for k, v in view.attributes.items() if k not in tools.removed}
            kept.update(tools.replaced)
            text = filtered_attributes(kept, view.groups)
            if text != "{}":
                metadata["attributes"] = text
    metadata.pop("resourceAttributes", None)
    metadata.pop("scope", None)
    return metadata
