"""Decoded, read-only views of a resource, a scope and one span: what every rule reads.

A ``ResourceView`` / ``ScopeView`` is built once per ``ResourceSpans`` / ``ScopeSpans`` and shared
by all their spans, so the JSON text of ``metadata.resourceAttributes`` / ``metadata.scope`` is
computed once per request part, not once per span. A ``SpanView`` holds the span's attributes
decoded once into a dict, plus the keys of the few prefix families the rules scan
(``gen_ai.usage.*``, ``gen_ai.prompt*``, ...) and *presence bits*, found in the same single pass.

Presence bits: a rule that only applies when the span has one of a few keys registers that key
set once, at import (``presence_bit``), and tests ``view.may_have(bit)`` first. ``index_keys``
sets the bit of every registered set that contains one of the span's keys; what each key
contributes is memoised with its prefix group, so a span pays one dict lookup per key instead of
a ``keys().isdisjoint(...)`` per rule (about 1,500 instructions each with mypyc,
``bench.mapping_instructions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.mapping.values import Value

__all__ = [
    "ALL_PRESENT",
    "PREFIX_GROUPS",
    "ResourceView",
    "ScopeView",
    "SpanView",
    "group_keys",
    "index_keys",
    "presence_bit",
]

PREFIX_GROUPS: Final[tuple[str, ...]] = (
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


ALL_PRESENT: Final = -1
"""Presence bits of a ``SpanView`` built without ``index_keys``: every bit set, so every rule
looks at the attributes itself (same output, only slower)."""

_PRESENCE_SETS: Final[list[frozenset[str]]] = []
"""The key sets registered with ``presence_bit``; set ``i`` has bit ``1 << i``."""

_PRESENCE_BITS_MAX: Final = 60
"""Registered sets at most (the mask stays a machine-word int under mypyc)."""

_KEY_INFO: Final[dict[str, tuple[str | None, int]]] = {}
"""Memo: attribute key → (its ``PREFIX_GROUPS`` prefix or None, its presence bits). Senders
reuse a small vocabulary of keys, so after the first spans a key costs one lookup instead of
prefix and set tests."""

_KEY_INFO_MAX: Final = 8192
"""Keys remembered at most (keys with ids in them must not grow the memo without bound)."""


def presence_bit(keys: frozenset[str]) -> int:
    """Register ``keys`` (at import of a rule module); returns the bit ``SpanView.present`` has
    set when the span has at least one of them."""
    if len(_PRESENCE_SETS) >= _PRESENCE_BITS_MAX:
        raise RuntimeError("too many presence key sets")
    _PRESENCE_SETS.append(keys)
    _KEY_INFO.clear()  # memoised bits predate this set
    return 1 << (len(_PRESENCE_SETS) - 1)


def _key_info(key: str) -> tuple[str | None, int]:
    """The first ``PREFIX_GROUPS`` prefix ``key`` starts with (or None), and its presence bits."""
    group: str | None = None
    if key.startswith(PREFIX_GROUPS):
        for prefix in PREFIX_GROUPS:
            if key.startswith(prefix):
                group = prefix
                break
    bits = 0
    for index, keys in enumerate(_PRESENCE_SETS):
        if key in keys:
            bits |= 1 << index
    return group, bits


def index_keys(attributes: dict[str, Value]) -> tuple[dict[str, list[str]], int]:
    """``(groups, present)`` in one pass over the keys: ``groups`` is ``{prefix: [keys starting
    with it]}`` for the ``PREFIX_GROUPS`` present (attribute order), ``present`` the OR of the
    ``presence_bit`` bits of the keys."""
    groups: dict[str, list[str]] = {}
    present = 0
    memo = _KEY_INFO
    for key in attributes:
        info = memo.get(key)
        if info is None:
            info = _key_info(key)
            if len(memo) < _KEY_INFO_MAX:
                memo[key] = info
        prefix, bits = info
        present |= bits
        if prefix is not None:
            bucket = groups.get(prefix)
            if bucket is None:
                groups[prefix] = [key]
            else:
                bucket.append(key)
    return groups, present


def group_keys(attributes: dict[str, Value]) -> dict[str, list[str]]:
    """``{prefix: [keys starting with it]}`` for the ``PREFIX_GROUPS`` present (one pass)."""
    return index_keys(attributes)[0]


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


class SpanView:
    """One span as the rules see it.

    Attributes:
        span: the OTLP span (ids, times, status are read from it directly).
        attributes: span attributes, decoded once.
        resource, scope: shared views of the span's resource and scope.
        json_metadata_values: the sender JSON-encodes every ``langfuse.*metadata.<k>`` value
            (Langfuse Python SDK ≥ 5); see ``metadata.py``.
        groups: ``group_keys(attributes)``.
        present: presence bits of ``attributes`` (``index_keys``); ``ALL_PRESENT`` when unknown.
        events: ``span.events``, read once: each read of a repeated field of a upb message
            builds a new container wrapper (about 1,000 instructions), and several rules look.
    """

    def __init__(
        self,
        span: Span,
        attributes: dict[str, Value],
        resource: ResourceView,
        scope: ScopeView,
        json_metadata_values: bool,
        groups: dict[str, list[str]] | None = None,
        present: int = ALL_PRESENT,
    ) -> None:
        self.span = span
        self.attributes = attributes
        self.resource = resource
        self.scope = scope
        self.json_metadata_values = json_metadata_values
        self.groups: dict[str, list[str]] = {} if groups is None else groups
        self.present = present
        self.events: Sequence[Span.Event] = span.events

    @property
    def name(self) -> str:
        """The OTLP span name."""
        return self.span.name

    def may_have(self, bit: int) -> bool:
        """Whether the span may have one of the keys registered as ``bit`` (``presence_bit``);
        False means it surely has none."""
        return self.present & bit != 0

    def keys_with(self, prefix: str) -> Sequence[str]:
        """Attribute keys in the ``PREFIX_GROUPS`` family ``prefix`` (attribute order)."""
        return self.groups.get(prefix, ())
