"""Scalar observation fields of a span (docs/reference/langfuse.md §1.8, §1.9).

name, environment, level, status message, version, release, model name, model parameters,
completion start time and prompt name/version. Each function reads a ``SpanView`` and returns a
ready-to-store value (or None for "unset").
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from ingest.mapping.attributes import decode_key_values
from ingest.mapping.values import (
    Value,
    js_string,
    json_encode,
    loads_or_none,
    meaningful,
    truthy,
)
from ingest.mapping.view import SpanView, presence_bit

__all__ = [
    "AGENT_OPERATIONS_WITHOUT_MODEL",
    "LEVEL_ALIASES",
    "MODEL_KEYS",
    "OPERATION_EXCEPTION_EVENT",
    "completion_start_time_us",
    "environment",
    "level",
    "model_name",
    "model_parameters",
    "normalize_environment",
    "observation_name",
    "prompt_reference",
    "release",
    "resource_environment",
    "status_message",
    "version",
]

# ---- name -------------------------------------------------------------------------------------

_NAME_KEYS: Final[tuple[str, ...]] = ("gen_ai.tool.name", "genkit:name", "logfire.msg")
_NAME_BIT: Final = presence_bit(frozenset({*_NAME_KEYS, "ai.toolCall.name", "ai.operationId"}))


def observation_name(view: SpanView) -> str:
    """Observation name: ``gen_ai.tool.name`` › ``genkit:name`` › ``logfire.msg`` ›
    ``ai.toolCall.name`` › ``[ai.telemetry.functionId:]ai.operationId`` › span name (§1.8)."""
    if not view.may_have(_NAME_BIT):
        return view.name
    a = view.attributes
    for key in _NAME_KEYS:
        value = a.get(key)
        if value is not None and truthy(value):
            return value if isinstance(value, str) else json_encode(value)
    if "ai.toolCall.name" in a:
        return js_string(a["ai.toolCall.name"])
    if "ai.operationId" in a:
        function_id = a.get("ai.telemetry.functionId")
        prefix = js_string(function_id) + ":" if truthy(function_id) else ""
        return prefix + js_string(a["ai.operationId"])
    return view.name


# ---- environment ------------------------------------------------------------------------------

ENVIRONMENT_KEYS: Final[tuple[str, ...]] = (
    "langfuse.environment",
    "deployment.environment.name",
    "deployment.environment",
)
DEFAULT_ENVIRONMENT: Final = "default"
_ENVIRONMENT_RE: Final = re.compile(r"[a-z0-9\-_]+")
_LANGFUSE_PREFIX: Final = re.compile(r"^(?:langfuse[-_]?)+")


_ENVIRONMENT_BIT: Final = presence_bit(frozenset(ENVIRONMENT_KEYS))


def environment(view: SpanView) -> str:
    """Normalised environment: for each key of ``ENVIRONMENT_KEYS`` the span attribute, then the
    resource attribute; the first truthy value decides, through ``normalize_environment`` (a
    non-string gives ``default``; Langfuse ``extractEnvironment``, §1.8). A span without any of
    the keys takes its resource's (``resource_environment``, computed once per resource)."""
    if not view.may_have(_ENVIRONMENT_BIT):
        return view.resource.environment
    a = view.attributes
    r = view.resource.attributes
    for key in ENVIRONMENT_KEYS:
        value = a.get(key)
        if truthy(value):
            return normalize_environment(value)
        value = r.get(key)
        if truthy(value):
            return normalize_environment(value)
    return DEFAULT_ENVIRONMENT


def resource_environment(resource_attributes: dict[str, Value]) -> str:
    """The environment of a span that has none of ``ENVIRONMENT_KEYS``: the first truthy resource
    value of those keys, normalised, else ``default``."""
    for key in ENVIRONMENT_KEYS:
        value = resource_attributes.get(key)
        if truthy(value):
            return normalize_environment(value)
    return DEFAULT_ENVIRONMENT


def normalize_environment(raw: Value) -> str:
    """Lowercase, strip the leading ``^(langfuse[-_]?)+`` (``langfuse`` alone leaves nothing),
    cut to 40 characters; the result must match ``^[a-z0-9-_]+$``, else ``default``; a value
    that is not a string is ``default`` (Langfuse ``normalizeEnvironment``, §1.8)."""
    if not isinstance(raw, str):
        return DEFAULT_ENVIRONMENT
    env = _LANGFUSE_PREFIX.sub("", raw.lower(), count=1)[:40]
    if not _ENVIRONMENT_RE.fullmatch(env):
        return DEFAULT_ENVIRONMENT
    return env


# ---- level / status ---------------------------------------------------------------------------

LEVEL_ALIASES: Final[dict[str, str]] = {
    "DEBUG": "DEBUG",
    "TRACE": "DEBUG",
    "VERBOSE": "DEBUG",
    "DEFAULT": "DEFAULT",
    "INFO": "DEFAULT",
    "LOG": "DEFAULT",
    "NOTICE": "DEFAULT",
    "OK": "DEFAULT",
    "SUCCESS": "DEFAULT",
    "WARNING": "WARNING",
    "WARN": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "ERROR",
    "CRITICAL": "ERROR",
}
"""``langfuse.observation.level`` spellings (case-insensitive) → Langfuse level (§1.8)."""

STATUS_CODE_ERROR: Final = 2

LIVEKIT_DEBUG_SPAN_NAMES: Final = frozenset(
    {
        "user_speaking",
        "eou_detection",
        "llm_request_run",
        "tts_node",
        "tts_request",
        "tts_request_run",
        "tts_stream_adapter",
        "agent_speaking",
        "drain_agent_activity",
        "on_exit",
        "on_enter",
        "llm_fallback_adapter",
        "tts_fallback_adapter",
        "start_agent_activity",
    }
)


OPERATION_EXCEPTION_EVENT: Final = "gen_ai.client.operation.exception"
"""GenAI semconv event of a failed operation (``exception.type``, ``exception.message``)."""


def level(view: SpanView) -> str:
    """``langfuse.observation.level`` (via ``LEVEL_ALIASES``) › ERROR when the span status is
    ERROR or the span has a ``gen_ai.client.operation.exception`` event › DEBUG for LiveKit
    debug spans › DEFAULT (§1.8). Unknown spellings fall through. The event is a deliberate
    extension: Langfuse ignores span events other than GenAI message events."""
    raw = view.attributes.get("langfuse.observation.level")
    if isinstance(raw, str):
        mapped = LEVEL_ALIASES.get(raw.strip().upper())
        if mapped is not None:
            return mapped
    if view.span.status.code == STATUS_CODE_ERROR or _operation_exception(view) is not None:
        return "ERROR"
    if view.scope.name == "livekit-agents" and view.name in LIVEKIT_DEBUG_SPAN_NAMES:
        return "DEBUG"
    return "DEFAULT"


def status_message(view: SpanView) -> str | None:
    """``langfuse.observation.status_message`` › non-empty ``status.message`` › the
    ``exception.message`` (else ``exception.type``) of a ``gen_ai.client.operation.exception``
    event › None (§1.8)."""
    raw = view.attributes.get("langfuse.observation.status_message")
    if raw is not None:
        return raw if isinstance(raw, str) else json_encode(raw)
    if view.span.status.message:
        return view.span.status.message
    exception = _operation_exception(view)
    if exception is None:
        return None
    for key in ("exception.message", "exception.type"):
        value = exception.get(key)
        if truthy(value):
            return value if isinstance(value, str) else json_encode(value)
    return None


def _operation_exception(view: SpanView) -> dict[str, Value] | None:
    """Attributes of the span's first ``gen_ai.client.operation.exception`` event, or None."""
    events = view.events
    if not events:
        return None
    for event in events:
        if event.name == OPERATION_EXCEPTION_EVENT:
            return decode_key_values(event.attributes)
    return None


# ---- version / release ------------------------------------------------------------------------


def version(view: SpanView) -> str | None:
    """``langfuse.version`` › resource ``service.version`` (§1.8)."""
    value = view.attributes.get("langfuse.version")
    if value is None:
        value = view.resource.attributes.get("service.version")
    return None if value is None else js_string(value)


def release(view: SpanView) -> str | None:
    """Span ``langfuse.release`` › resource ``langfuse.release`` (§1.8)."""
    value = view.attributes.get("langfuse.release")
    if value is None:
        value = view.resource.attributes.get("langfuse.release")
    return None if value is None else js_string(value)


# ---- model ------------------------------------------------------------------------------------

MODEL_KEYS: Final[tuple[str, ...]] = (
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "ai.model.id",
    "gen_ai.request.model",
    "llm.response.model",
    "llm.model_name",
    "model",
)
"""Model-name sources in order (§1.8); Genkit's ``genkit:name`` (subtype model) comes last."""

AGENT_OPERATIONS_WITHOUT_MODEL: Final = frozenset({"invoke_agent", "agent_step"})
"""``gen_ai.operation.name`` values whose spans get no model/usage/cost: agent spans repeat
their children's usage (§1.8, Vercel AI SDK agents)."""


def model_name(view: SpanView) -> str | None:
    """Provided model name (``MODEL_KEYS``; non-strings as JSON text), or None (§1.8)."""
    a = view.attributes
    for key in MODEL_KEYS:
        value = a.get(key)
        if value is not None and truthy(value):
            return value if isinstance(value, str) else json_encode(value)
    if a.get("genkit:metadata:subtype") == "model":
        value = a.get("genkit:name")
        if truthy(value):
            return js_string(value)
    return None


# ---- model parameters (§1.9) ------------------------------------------------------------------

_PARAM_PREFIXES: Final[tuple[str, ...]] = ("gen_ai.request.", "llm.invocation_parameters.")


def model_parameters(view: SpanView) -> str | None:
    """Model parameters as JSON object text, or None when there are none (§1.9).

    1. ``langfuse.observation.model.parameters`` (JSON object) — final unless scope is ``ai``;
    2. scope ``genkit-tracer``: ``config`` of ``genkit:input`` / ``genkit:output.request``;
    3. scope ``ai``: Vercel settings (``maxSteps``, ``toolChoice``, ``maxTokens``,
       ``finishReason``, ``system``, ``maxRetries``, ``mode``, ``temperature``,
       ``service_tier``; values as strings), explicit parameters merged on top;
    4. ``llm.invocation_parameters`` › ``model_config`` (JSON objects);
    5. every ``gen_ai.request.*`` / ``llm.invocation_parameters.*`` attribute except ``*model``,
       keyed by suffix.
    Values: strings and numbers kept, anything else JSON text. Deliberate: unset Vercel settings
    are omitted (Langfuse writes ``null`` for each) and an empty result is None (Langfuse ``{}``).
    """
    a = view.attributes
    scope = view.scope.name
    raw = a.get("langfuse.observation.model.parameters")
    explicit = None if raw is None else _json_object(raw)
    if explicit is not None and scope != "ai":
        return _params_text(explicit)
    if scope == "genkit-tracer":
        config = _genkit_config(a)
        if config is not None:
            return _params_text(config)
    if scope == "ai":
        params = _vercel_params(a)
        if explicit is not None:
            params.update(explicit)
        return _params_text(params)
    for key in ("llm.invocation_parameters", "model_config"):
        raw = a.get(key)
        parsed = None if raw is None else _json_object(raw)
        if parsed is not None:
            return _params_text(parsed)
    params = {}
    groups = view.groups
    for prefix in _PARAM_PREFIXES:
        for key in groups.get(prefix, ()):
            suffix = key[len(prefix) :]
            if suffix != "model":
                params[suffix] = a[key]
    return _params_text(params)


def _json_object(raw: Value) -> dict[str, Value] | None:
    if not truthy(raw):
        return None
    parsed = loads_or_none(raw) if isinstance(raw, str) else raw
    return parsed if isinstance(parsed, dict) else None


def _params_text(params: dict[str, Value]) -> str | None:
    if not params:
        return None
    sanitized = {
        key: value
        if isinstance(value, str)
        or (isinstance(value, (int, float)) and not isinstance(value, bool))
        else json_encode(value)
        for key, value in params.items()
    }
    return json_encode(sanitized)


def _genkit_config(a: dict[str, Value]) -> dict[str, Value] | None:
    genkit_input = _json_object(a.get("genkit:input"))
    if genkit_input is not None and isinstance(genkit_input.get("config"), dict):
        config: dict[str, Value] = genkit_input["config"]
        return config
    genkit_output = _json_object(a.get("genkit:output"))
    if genkit_output is not None:
        request = genkit_output.get("request")
        if isinstance(request, dict) and isinstance(request.get("config"), dict):
            request_config: dict[str, Value] = request["config"]
            return request_config
    return None


_VERCEL_PARAM_SOURCES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("maxSteps", ("ai.settings.maxSteps",)),
    ("toolChoice", ("ai.prompt.toolChoice",)),
    ("maxTokens", ("gen_ai.request.max_tokens",)),
    ("finishReason", ("gen_ai.response.finish_reasons", "gen_ai.finishReason")),
    ("system", ("gen_ai.system", "ai.model.provider")),
    ("maxRetries", ("ai.settings.maxRetries",)),
    ("mode", ("ai.settings.mode",)),
    ("temperature", ("gen_ai.request.temperature",)),
)


def _vercel_params(a: dict[str, Value]) -> dict[str, Value]:
    params: dict[str, Value] = {}
    for name, keys in _VERCEL_PARAM_SOURCES:
        for key in keys:
            value = a.get(key)
            if value is not None:
                params[name] = js_string(value)
                break
    provider_metadata = _json_object(a.get("ai.response.providerMetadata"))
    openai = provider_metadata.get("openai") if provider_metadata else None
    tier = openai.get("serviceTier") if isinstance(openai, dict) else None
    if tier is None:
        tier = a.get("gen_ai.request.service_tier")
    if tier is not None:
        params["service_tier"] = js_string(tier)
    return params


# ---- completion start time --------------------------------------------------------------------

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_COMPLETION_START_BIT: Final = presence_bit(
    frozenset(
        {
            "langfuse.observation.completion_start_time",
            "ai.response.msToFirstChunk",
            "ai.stream.msToFirstChunk",
        }
    )
)


def completion_start_time_us(view: SpanView, start_time_us: int) -> int | None:
    """Completion start (first token), Unix µs, or None (§1.8).

    ``langfuse.observation.completion_start_time`` as an ISO-8601 string, also double-encoded
    as a JSON string (``"\\"2025-10-01T08:45:26.112Z\\""``, older SDKs); else span start +
    ``ai.response.msToFirstChunk`` › ``ai.stream.msToFirstChunk`` milliseconds (rounded up to
    the microsecond). A timestamp without a zone is UTC.
    """
    if not view.may_have(_COMPLETION_START_BIT):
        return None
    a = view.attributes
    raw = a.get("langfuse.observation.completion_start_time")
    if isinstance(raw, str) and raw:
        parsed = _parse_iso_us(raw)
        if parsed is None:
            inner = loads_or_none(raw)
            if isinstance(inner, str):
                parsed = _parse_iso_us(inner)
        if parsed is not None:
            return parsed
    ms = a.get("ai.response.msToFirstChunk")
    if ms is None:
        ms = a.get("ai.stream.msToFirstChunk")
    if not truthy(ms) or isinstance(ms, bool):
        return None
    try:
        delta_us = Decimal(str(ms)) * 1000
    except InvalidOperation:
        return None
    if not delta_us.is_finite():
        return None
    return start_time_us + math.ceil(delta_us)


def _parse_iso_us(text: str) -> int | None:
    text = text.strip()
    if len(text) < 10 or not text[:4].isdigit():
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# ---- prompt (GENERATION only) -----------------------------------------------------------------

_UINT32_MAX: Final = 2**32 - 1
_PROMPT_BIT: Final = presence_bit(
    frozenset(
        {
            "ai.telemetry.metadata.langfusePrompt",
            "langfuse.observation.prompt.name",
            "langfuse.prompt.name",
            "langfuse.observation.prompt.version",
            "langfuse.prompt.version",
        }
    )
)


def prompt_reference(view: SpanView) -> tuple[str | None, int | None]:
    """``(prompt_name, prompt_version)`` of a GENERATION (§1.8).

    ``langfuse.observation.prompt.name|version`` › ``langfuse.prompt.name|version`` › JSON
    ``{name, version}`` in ``ai.telemetry.metadata.langfusePrompt``. A version that is not a
    non-negative integer (or integer string) is dropped.
    """
    if not view.may_have(_PROMPT_BIT):
        return None, None
    a = view.attributes
    vercel: dict[str, Value] | None = None
    if "ai.telemetry.metadata.langfusePrompt" in a:
        vercel = _json_object(a["ai.telemetry.metadata.langfusePrompt"])
    name = a.get("langfuse.observation.prompt.name")
    if name is None:
        name = a.get("langfuse.prompt.name")
    if name is None and vercel is not None:
        name = vercel.get("name")
    raw_version = a.get("langfuse.observation.prompt.version")
    if raw_version is None:
        raw_version = a.get("langfuse.prompt.version")
    if raw_version is None and vercel is not None:
        raw_version = vercel.get("version")
    return (js_string(name) if meaningful(name) else None), _prompt_version(raw_version)


def _prompt_version(raw: Value) -> int | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, int) and 0 <= raw <= _UINT32_MAX:
        return raw
    return None
