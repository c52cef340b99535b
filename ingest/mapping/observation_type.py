"""Observation type of a span: an ordered table of rules (docs/reference/langfuse.md §1.7).

``RULES`` is evaluated top to bottom; the first rule that yields a type wins, else ``SPAN``.
Each row is a small frozen dataclass (data), the few rule *kinds* below are the only code. Each
rule names the attribute keys it needs (``keys``); a span with none of the table's keys (most
non-LLM spans) is only offered to the rules that need none.

| prio | rule                    | condition → type                                              |
|------|-------------------------|---------------------------------------------------------------|
| 0    | PythonSDKv330Override   | Python SDK ≤ 3.3 span with generation attributes → GENERATION |
| 1    | langfuse.observation.type | span/generation/... → upper-case                            |
| 2    | openinference.span.kind | LLM → GENERATION, CHAIN, RETRIEVER, EMBEDDING, AGENT, ...     |
| 3    | gen_ai.operation.name   | chat/completion/... → GENERATION, embeddings → EMBEDDING, ... |
|      |                         | (+ ``SEMCONV_OPERATION_TYPES``, a deliberate extension)       |
| 4    | genkit:metadata:subtype | model → GENERATION, embedder → EMBEDDING, tool → TOOL, ...    |
| 5    | Vercel AI model ops     | with a model: ai.*.doGenerate/doStream → GENERATION, ...      |
| 6    | Vercel AI other ops     | ai.toolCall → TOOL                                            |
| 7    | GenAI tool              | gen_ai.tool.name / gen_ai.tool.call.id → TOOL                 |
| 8    | Flue                    | flue.tool.* → TOOL, flue.task.* → AGENT                       |
| 9    | LiveKit                 | scope livekit-agents + span name → AGENT / TOOL               |
| 10   | model fallback          | any model attribute → GENERATION                              |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from ingest.mapping.values import meaningful
from ingest.mapping.view import SpanView, presence_bit

__all__ = [
    "DEFAULT_TYPE",
    "RULES",
    "SEMCONV_OPERATION_TYPES",
    "AnyKeyRule",
    "AttributeValueRule",
    "PythonSdkV330OverrideRule",
    "ScopeSpanNameRule",
    "TypeRule",
    "VercelOperationRule",
    "observation_type",
]

DEFAULT_TYPE: Final = "SPAN"

GENERATION_ATTRIBUTE_KEYS: Final[tuple[str, ...]] = (
    "langfuse.observation.model.name",
    "langfuse.observation.cost_details",
    "langfuse.observation.usage_details",
    "langfuse.observation.completion_start_time",
    "langfuse.observation.model.parameters",
    "langfuse.observation.prompt.name",
    "langfuse.observation.prompt.version",
)
"""Generation-only Langfuse attributes (the Python SDK ≤ 3.3 bug, Langfuse issue #8682)."""


class TypeRule(Protocol):
    """One row of the rule table: a type for the span, or None to fall through."""

    @property
    def name(self) -> str:
        """The rule's name (for debugging and tests)."""
        ...

    @property
    def keys(self) -> frozenset[str] | None:
        """Attribute keys of which one must be present for the rule to yield a type; None when
        the rule does not depend on the span's attributes."""
        ...

    def match(self, view: SpanView) -> str | None:
        """The observation type this rule assigns to ``view``, or None."""
        ...


@dataclass(frozen=True, slots=True)
class AttributeValueRule:
    """``attributes[key]`` looked up (exact, case-sensitive) in ``mapping``."""

    name: str
    key: str
    mapping: Mapping[str, str]

    @property
    def keys(self) -> frozenset[str]:
        """``{key}``."""
        return frozenset({self.key})

    def match(self, view: SpanView) -> str | None:
        """Mapped type of the attribute's string value, or None."""
        value = view.attributes.get(self.key)
        if isinstance(value, str):
            return self.mapping.get(value)
        return None


@dataclass(frozen=True, slots=True)
class AnyKeyRule:
    """The first ``(keys, type)`` row with a meaningful value on any of its keys gives its type."""

    name: str
    rows: tuple[tuple[tuple[str, ...], str], ...]

    @property
    def keys(self) -> frozenset[str]:
        """Every key of every row."""
        return frozenset(key for keys, _ in self.rows for key in keys)

    def match(self, view: SpanView) -> str | None:
        """Type of the first row whose keys carry a meaningful value, or None."""
        attributes = view.attributes
        for keys, obs_type in self.rows:
            for key in keys:
                if meaningful(attributes.get(key)):
                    return obs_type
        return None


@dataclass(frozen=True, slots=True)
class VercelOperationRule:
    """Vercel AI SDK operation: ``operation.name`` starts with / ``ai.operationId`` equals an op.

    Attributes:
        rows: ``(operations, type)`` in order.
        model_keys: when non-empty, the rule applies only if one of them is meaningful.
        excluded: operations this rule must not claim (handled by another row of the table).
    """

    name: str
    rows: tuple[tuple[tuple[str, ...], str], ...]
    model_keys: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def keys(self) -> frozenset[str]:
        """The two operation keys (one must be a string)."""
        return frozenset({"operation.name", "ai.operationId"})

    def match(self, view: SpanView) -> str | None:
        """Type for the span's Vercel operation, or None."""
        attributes = view.attributes
        op_name = attributes.get("operation.name")
        op_id = attributes.get("ai.operationId")
        op_name = op_name if isinstance(op_name, str) else ""
        op_id = op_id if isinstance(op_id, str) else ""
        if not op_name and not op_id:
            return None
        if self.model_keys and not any(meaningful(attributes.get(k)) for k in self.model_keys):
            return None
        if self.excluded and _matches_operation(op_name, op_id, self.excluded):
            return None
        for operations, obs_type in self.rows:
            if _matches_operation(op_name, op_id, operations):
                return obs_type
        return None


def _matches_operation(op_name: str, op_id: str, operations: tuple[str, ...]) -> bool:
    return bool(op_name and op_name.startswith(operations)) or op_id in operations


@dataclass(frozen=True, slots=True)
class ScopeSpanNameRule:
    """Spans of scope ``scope`` typed by their span name."""

    name: str
    scope: str
    span_names: Mapping[str, str]

    @property
    def keys(self) -> None:
        """None: the scope and the span name decide."""
        return None

    def match(self, view: SpanView) -> str | None:
        """Type for the span name when the scope matches, or None."""
        if view.scope.name != self.scope:
            return None
        return self.span_names.get(view.name)


@dataclass(frozen=True, slots=True)
class PythonSdkV330OverrideRule:
    """Langfuse Python SDK ≤ 3.3 sent generations as ``span`` (issue #8682): repair them.

    Applies when ``langfuse.observation.type`` is ``span``, the scope is ``langfuse-sdk`` with a
    version ≤ 3.3 (or none), the resource language is ``python`` and any generation attribute
    (``GENERATION_ATTRIBUTE_KEYS``) is present.
    """

    name: str
    generation_keys: tuple[str, ...] = GENERATION_ATTRIBUTE_KEYS

    @property
    def keys(self) -> frozenset[str]:
        """``langfuse.observation.type`` (must be ``span``)."""
        return frozenset({"langfuse.observation.type"})

    def match(self, view: SpanView) -> str | None:
        """``GENERATION`` for an affected span, else None."""
        if view.attributes.get("langfuse.observation.type") != "span":
            return None
        if view.scope.name != "langfuse-sdk":
            return None
        if view.resource.attributes.get("telemetry.sdk.language") != "python":
            return None
        if view.scope.version and not _version_at_most(view.scope.version, 3, 3):
            return None
        if any(key in view.attributes for key in self.generation_keys):
            return "GENERATION"
        return None


def _version_at_most(version: str, major: int, minor: int) -> bool:
    parts = version.split(".")
    try:
        got_major = int(parts[0])
        got_minor = int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return True  # unparsable: Langfuse's Number() gives NaN, and NaN > 3 is false
    return (got_major, got_minor) <= (major, minor)


SEMCONV_OPERATION_TYPES: Final[Mapping[str, str]] = {
    "retrieval": "RETRIEVER",
    "invoke_workflow": "CHAIN",
    "plan": "AGENT",
    "handle_conversation_turn": "AGENT",
    "search_memory": "RETRIEVER",
    "create_memory": "TOOL",
    "update_memory": "TOOL",
    "upsert_memory": "TOOL",
    "delete_memory": "TOOL",
    "create_memory_store": "TOOL",
    "delete_memory_store": "TOOL",
}
"""``gen_ai.operation.name`` values of the current GenAI semconv (registry of
``open-telemetry/semantic-conventions-genai``) that Langfuse's mapper does not know (it leaves
them to the later rules, usually SPAN). Deliberate deviation: a workflow orchestrates steps
(CHAIN); planning and a conversation turn are an agent deciding what to do (AGENT, as Langfuse
types LiveKit's ``agent_turn``); reading from a store is retrieval (RETRIEVER); writing to a
memory store is an action on an external system (TOOL)."""

RULES: Final[tuple[TypeRule, ...]] = (
    PythonSdkV330OverrideRule(name="PythonSDKv330Override"),
    AttributeValueRule(
        name="LangfuseObservationType",
        key="langfuse.observation.type",
        mapping={
            "span": "SPAN",
            "generation": "GENERATION",
            "event": "EVENT",
            "embedding": "EMBEDDING",
            "agent": "AGENT",
            "tool": "TOOL",
            "chain": "CHAIN",
            "retriever": "RETRIEVER",
            "guardrail": "GUARDRAIL",
            "evaluator": "EVALUATOR",
        },
    ),
    AttributeValueRule(
        name="OpenInference",
        key="openinference.span.kind",
        mapping={
            "CHAIN": "CHAIN",
            "RETRIEVER": "RETRIEVER",
            "LLM": "GENERATION",
            "EMBEDDING": "EMBEDDING",
            "AGENT": "AGENT",
            "TOOL": "TOOL",
            "GUARDRAIL": "GUARDRAIL",
            "EVALUATOR": "EVALUATOR",
        },
    ),
    AttributeValueRule(
        name="OTelGenAIOperation",
        key="gen_ai.operation.name",
        mapping={
            "chat": "GENERATION",
            "completion": "GENERATION",
            "text_completion": "GENERATION",
            "generate_content": "GENERATION",
            "generate": "GENERATION",
            "embeddings": "EMBEDDING",
            "invoke_agent": "AGENT",
            "create_agent": "AGENT",
            "execute_tool": "TOOL",
            **SEMCONV_OPERATION_TYPES,
        },
    ),
    AttributeValueRule(
        name="Genkit",
        key="genkit:metadata:subtype",
        mapping={
            "model": "GENERATION",
            "background-model": "GENERATION",
            "embedder": "EMBEDDING",
            "tool": "TOOL",
            "tool.v2": "TOOL",
            "retriever": "RETRIEVER",
            "evaluator": "EVALUATOR",
        },
    ),
    VercelOperationRule(
        name="VercelAIModelOperation",
        rows=(
            (
                (
                    "ai.generateText.doGenerate",
                    "ai.streamText.doStream",
                    "ai.generateObject.doGenerate",
                    "ai.streamObject.doStream",
                ),
                "GENERATION",
            ),
            (("ai.embedMany.doEmbed", "ai.embed.doEmbed"), "EMBEDDING"),
        ),
        model_keys=(
            "langfuse.observation.model.name",
            "ai.model.id",
            "gen_ai.request.model",
            "gen_ai.response.model",
        ),
    ),
    VercelOperationRule(
        name="VercelAIOtherOperation",
        rows=((("ai.toolCall",), "TOOL"),),
        excluded=(
            "ai.generateText.doGenerate",
            "ai.streamText.doStream",
            "ai.generateObject.doGenerate",
            "ai.streamObject.doStream",
            "ai.embedMany.doEmbed",
            "ai.embed.doEmbed",
        ),
    ),
    AnyKeyRule(name="GenAITool", rows=((("gen_ai.tool.name", "gen_ai.tool.call.id"), "TOOL"),)),
    AnyKeyRule(
        name="Flue",
        rows=(
            (("flue.tool.name", "flue.tool.call_id"), "TOOL"),
            (("flue.task.id", "flue.task.agent"), "AGENT"),
        ),
    ),
    ScopeSpanNameRule(
        name="LiveKit",
        scope="livekit-agents",
        span_names={
            "agent_turn": "AGENT",
            "start_agent_activity": "AGENT",
            "function_tool": "TOOL",
        },
    ),
    AnyKeyRule(
        name="ModelFallback",
        rows=(
            (
                (
                    "langfuse.observation.model.name",
                    "gen_ai.request.model",
                    "gen_ai.response.model",
                    "llm.model_name",
                    "model",
                ),
                "GENERATION",
            ),
        ),
    ),
)
"""The §1.7 priority list, highest priority first."""


_RULE_KEYS: Final[frozenset[str]] = frozenset().union(
    *(keys for keys in (rule.keys for rule in RULES) if keys is not None)
)
"""Every attribute key some rule of ``RULES`` needs."""

_RULE_BIT: Final = presence_bit(_RULE_KEYS)

_KEYLESS_RULES: Final[tuple[TypeRule, ...]] = tuple(rule for rule in RULES if rule.keys is None)
"""The rules of ``RULES`` left for a span without any of ``_RULE_KEYS``."""


def observation_type(view: SpanView, rules: tuple[TypeRule, ...] = RULES) -> str:
    """The Langfuse observation type of one span (``SPAN``, ``GENERATION``, ...; §1.7)."""
    if rules is RULES and not view.may_have(_RULE_BIT):
        rules = _KEYLESS_RULES
    for rule in rules:
        obs_type = rule.match(view)
        if obs_type is not None:
            return obs_type
    return DEFAULT_TYPE
