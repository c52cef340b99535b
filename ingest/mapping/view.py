"""Decoded, read-only views of a resource, a scope and one span: what every rule reads.

A ``ResourceView`` / ``ScopeView`` is built once per ``ResourceSpans`` / ``ScopeSpans`` and shared
by all their spans, so the JSON text of ``metadata.resourceAttributes`` / ``metadata.scope`` is
computed once per request part, not once per span. A ``SpanView`` holds the span's attributes
decoded once into a dict, plus the keys of the few prefix families the rules scan
(``gen_ai.usage.*``, ``gen_ai.prompt*``, ...), found in a single pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.mapping.values import Value

__all__ = ["PREFIX_GROUPS", "ResourceView", "ScopeView", "SpanView", "group_keys"]

PREFIX_GROUPS: tuple[str, ...] = (
    "gen_ai.usage.",
    "llm.token_count.",
    "gen_ai.request.",
    "llm.invocation_parameters.",
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.input_messages",
    "llm.output_messages",
    "langfuse.observation.metadata",
    "langfuse.trace.metadata",
    "langfuse.metadata",
    "ai.telemetry.metadata",
    "llm.tools.",
)
"""Attribute-key prefixes that some rule scans; keys are grouped by the first that matches."""


_GROUP_OF_KEY: dict[str, str | None] = {}
"""Memo: attribute key → its ``PREFIX_GROUPS`` prefix (None: no group). Senders reuse a small
vocabulary of keys, so after the first spans a key costs one lookup instead of prefix tests."""

_GROUP_OF_KEY_MAX = 8192
"""Keys remembered at most (keys with ids in them must not grow the memo without bound)."""


def _group_of(key: str) -> str | None:
    """The first ``PREFIX_GROUPS`` prefix ``key`` starts with, or None."""
    if key.startswith(PREFIX_GROUPS):
        for prefix in PREFIX_GROUPS:
            if key.startswith(prefix):
                return prefix
    return None


def group_keys(attributes: dict[str, Value]) -> dict[str, list[str]]:
    """``{prefix: [keys starting with it]}`` for the ``PREFIX_GROUPS`` present (one pass)."""
    groups: dict[str, list[str]] = {}
    memo = _GROUP_OF_KEY
    for key in attributes:
        prefix = memo.get(key, "")
        if prefix == "":
            prefix = _group_of(key)
            if len(memo) < _GROUP_OF_KEY_MAX:
                memo[key] = prefix
        if prefix is not None:
            bucket = groups.get(prefix)
            if bucket is None:
                groups[prefix] = [key]
            else:
                bucket.append(key)
    return groups


@dataclass(slots=True)
class ResourceView:
    """A decoded OTLP resource.

    Attributes:
        attributes: resource attributes, decoded (``attributes.decode_key_values``).
        attributes_json: JSON object text of ``attributes`` (``metadata.resourceAttributes``).
        trace_metadata: resource-level ``langfuse.trace.metadata(.*)`` as metadata entries
            (key → JSON text), docs/reference/langfuse.md §1.5 / §1.12.
        environment: the environment of spans that set none of their own
            (``fields.resource_environment``).
    """

    attributes: dict[str, Value]
    attributes_json: str
    trace_metadata: dict[str, str]
    environment: str


@dataclass(slots=True)
class ScopeView:
    """A decoded OTLP instrumentation scope.

    Attributes:
        name, version: the scope's name and version ("" when absent).
        attributes: scope attributes, decoded.
        is_langfuse_sdk: ``name`` starts with ``langfuse-sdk`` (docs/reference/langfuse.md §1.5).
        metadata_json: JSON text of ``{name, version, attributes}`` (``metadata.scope``).
    """

    name: str
    version: str
    attributes: dict[str, Value]
    is_langfuse_sdk: bool
    metadata_json: str


@dataclass(slots=True)
class SpanView:
    """One span as the rules see it.

    Attributes:
        span: the OTLP span (ids, times, status, events are read from it directly).
        attributes: span attributes, decoded once.
        resource, scope: shared views of the span's resource and scope.
        json_metadata_values: the sender JSON-encodes every ``langfuse.*metadata.<k>`` value
            (Langfuse Python SDK ≥ 5); see ``metadata.py``.
        groups: ``group_keys(attributes)``.
    """

    span: Span
    attributes: dict[str, Value]
    resource: ResourceView
    scope: ScopeView
    json_metadata_values: bool
    groups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The OTLP span name."""
        return self.span.name

    def keys_with(self, prefix: str) -> Sequence[str]:
        """Attribute keys in the ``PREFIX_GROUPS`` family ``prefix`` (attribute order)."""
        return self.groups.get(prefix, ())
