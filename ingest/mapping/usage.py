"""Provided usage and cost of a span (docs/reference/langfuse.md §1.10 and §1.8 costDetails).

Usage (``ObservationRecord.provided_usage_details``, Langfuse usage keys → token counts), first
source that applies:

1. ``langfuse.observation.usage_details``: a JSON object (non-object → ``{}``), through the
   schema pass: strict OpenAI Chat usage ``{prompt_tokens, completion_tokens, total_tokens,
   prompt_tokens_details?, completion_tokens_details?}`` → ``input/output/total`` plus
   ``input_<k>`` / ``output_<k>`` per detail, each detail subtracted from input/output (floor 0);
   strict OpenAI Responses usage (``input_tokens``, ...) likewise; else a free map keeping the
   non-negative integer values.
2. scope ``ai`` (Vercel AI SDK): ``gen_ai.usage.*`` + ``ai.usage.*`` + provider metadata.
3. generic: ``gen_ai.usage.*`` (not ``gen_ai.usage.cost``) and ``llm.token_count.*``, prefixes
   stripped, then normalised (``GENERIC_RULES``): ``input`` = prompt − cache read − cache
   creation − audio, ``output`` = completion − reasoning − audio (floor 0), ``total``, the
   bucket keys ``input_cached_tokens`` / ``input_cache_creation`` / ``input_audio_tokens`` /
   ``output_reasoning_tokens`` / ``output_audio_tokens``; other keys pass through (a leading
   ``details.`` stripped).

Invariant (docs/architecture.md "Tokens and cost"): ``input`` excludes cache buckets and ``output``
excludes reasoning/audio, so buckets are additive.

Cost (``provided_cost_details``, key → USD decimal string): ``langfuse.observation.cost_details``
(JSON object) › ``gen_ai.usage.cost`` → ``{"total"}`` › ``llm.cost.total`` → ``{"total"}``.
"""

from __future__ import annotations

from ingest.mapping.values import (
    Value,
    as_decimal_string,
    as_non_negative_int,
    loads_or_none,
    truthy,
)
from ingest.mapping.view import SpanView

__all__ = [
    "GENERIC_RULES",
    "generic_usage",
    "provided_cost",
    "provided_usage",
    "usage_from_object",
    "vercel_usage",
]

UsageDetails = dict[str, int]

# ---- generic GenAI / OpenInference path -------------------------------------------------------

GENERIC_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("input", ("prompt_tokens", "input_tokens", "prompt")),
    ("output", ("completion_tokens", "output_tokens", "completion")),
    ("total", ("total_tokens", "total")),
    (
        "input_cached_tokens",
        (
            "cache_read.input_tokens",
            "cache_read_input_tokens",
            "cache_read_tokens",
            "details.cache_read_tokens",
            "details.cache_read_input_tokens",
            "prompt_details.cache_read",
            "input_cached_tokens",
        ),
    ),
    (
        "input_cache_creation",
        (
            "cache_creation.input_tokens",
            "cache_creation_input_tokens",
            "cache_write_tokens",
            "details.cache_write_tokens",
            "details.cache_creation_input_tokens",
            "prompt_details.cache_write",
            "input_cache_creation",
        ),
    ),
    ("input_audio_tokens", ("prompt_details.audio",)),
    ("output_reasoning_tokens", ("reasoning.output_tokens", "completion_details.reasoning")),
    ("output_audio_tokens", ("completion_details.audio",)),
)
"""Langfuse key ← source suffixes (after ``gen_ai.usage.`` / ``llm.token_count.``), first wins.
Every listed suffix is consumed; unlisted suffixes pass through. Deviation from Langfuse, which
passes ``prompt_details.audio`` through unchanged: OpenInference's prompt count includes audio
tokens (as OpenAI's ``prompt_tokens`` does), so it becomes the ``input_audio_tokens`` bucket and is
subtracted from ``input``, keeping buckets additive and priced at the audio rate."""

_SOURCE_RANK: dict[str, tuple[str, int]] = {
    source: (target, rank)
    for target, sources in GENERIC_RULES
    for rank, source in enumerate(sources)
}
"""source suffix → (Langfuse key, rank among that key's sources); built from ``GENERIC_RULES``."""

_INPUT_BUCKETS = ("input_cached_tokens", "input_cache_creation", "input_audio_tokens")
_OUTPUT_BUCKETS = ("output_reasoning_tokens", "output_audio_tokens")
_GENERIC_PREFIXES = ("gen_ai.usage.", "llm.token_count.")


def generic_usage(attributes: dict[str, Value], groups: dict[str, list[str]]) -> UsageDetails:
    """Usage from ``gen_ai.usage.*`` / ``llm.token_count.*`` attributes (rules above)."""
    usage: UsageDetails = {}
    ranks: dict[str, int] = {}
    passthrough: list[tuple[str, int]] = []
    for prefix in _GENERIC_PREFIXES:
        keys = groups.get(prefix)
        if not keys:
            continue
        cut = len(prefix)
        for key in keys:
            if key == "gen_ai.usage.cost":
                continue
            count = as_non_negative_int(attributes[key])
            if count is None:
                continue
            suffix = key[cut:]
            known = _SOURCE_RANK.get(suffix)
            if known is None:
                passthrough.append((suffix, count))
                continue
            target, rank = known
            if rank < ranks.get(target, len(_SOURCE_RANK)):
                ranks[target] = rank
                usage[target] = count
    if not usage and not passthrough:
        return usage
    _subtract_buckets(usage)
    for suffix, count in passthrough:
        usage.setdefault(suffix[8:] if suffix.startswith("details.") else suffix, count)
    return usage


def _subtract_buckets(usage: UsageDetails) -> None:
    """``input -= cache buckets``, ``output -= reasoning/audio`` (floor 0), when present."""
    if "input" in usage:
        usage["input"] = max(usage["input"] - sum(usage.get(k, 0) for k in _INPUT_BUCKETS), 0)
    if "output" in usage:
        usage["output"] = max(usage["output"] - sum(usage.get(k, 0) for k in _OUTPUT_BUCKETS), 0)


# ---- langfuse.observation.usage_details -------------------------------------------------------

_CHAT_SCHEMA = ("prompt_tokens", "completion_tokens", "total_tokens")
_CHAT_DETAILS = ("prompt_tokens_details", "completion_tokens_details")
_RESPONSES_SCHEMA = ("input_tokens", "output_tokens", "total_tokens")
_RESPONSES_DETAILS = ("input_tokens_details", "output_tokens_details")


def usage_from_object(obj: dict[str, Value]) -> UsageDetails:
    """The §1.10 schema pass over a usage JSON object (strict Chat › strict Responses › free)."""
    for required, details in (
        (_CHAT_SCHEMA, _CHAT_DETAILS),
        (_RESPONSES_SCHEMA, _RESPONSES_DETAILS),
    ):
        strict = _strict_openai(obj, required, details)
        if strict is not None:
            return strict
    usage: UsageDetails = {}
    for key, value in obj.items():
        count = as_non_negative_int(value)
        if count is not None:
            usage[key] = count
    return usage


def _strict_openai(
    obj: dict[str, Value], required: tuple[str, ...], details: tuple[str, ...]
) -> UsageDetails | None:
    """OpenAI usage object with exactly these keys (zod ``.strict()``), or None."""
    counts: list[int] = []
    for key in required:
        count = _strict_count(obj.get(key))
        if count is None:
            return None
        counts.append(count)
    for key in obj:
        if key not in required and key not in details:
            return None
    detail_maps: list[dict[str, int]] = []
    for key in details:
        raw = obj.get(key)
        parsed: dict[str, int] = {}
        if raw is not None:
            if not isinstance(raw, dict):
                return None
            for name, value in raw.items():
                if value is None:
                    continue
                count = _strict_count(value)
                if count is None:
                    return None
                parsed[name] = count
        detail_maps.append(parsed)
    usage: UsageDetails = {"input": counts[0], "output": counts[1], "total": counts[2]}
    for side, detail in zip(("input", "output"), detail_maps, strict=True):
        for name, count in detail.items():
            usage[f"{side}_{name}"] = count
            usage[side] = max(usage[side] - count, 0)
    return usage


def _strict_count(value: Value) -> int | None:
    """A JSON number that is a non-negative integer (``5`` or ``5.0``; not ``"5"``)."""
    if isinstance(value, str):
        return None
    return as_non_negative_int(value)


# ---- Vercel AI SDK (scope "ai") ---------------------------------------------------------------


def vercel_usage(attributes: dict[str, Value]) -> UsageDetails:
    """Usage of a Vercel AI SDK span (§1.10 "Vercel AI").

    input ``gen_ai.usage.prompt_tokens`` › ``input_tokens``; output ``completion_tokens`` ›
    ``output_tokens``; total ``ai.usage.tokens``; ``ai.usage.cachedInputTokens`` /
    ``ai.usage.reasoningTokens``; then ``ai.response.providerMetadata`` fills gaps (openai,
    anthropic incl. 5m/1h cache-creation split, bedrock); finally input −= every cache bucket
    and output −= reasoning (floor 0). Deliberate: input/output are only set when a count was
    sent (Langfuse writes 0 for spans without usage, e.g. ``ai.toolCall``).
    """
    a = attributes
    usage: UsageDetails = {}
    _set_first(usage, "input", a, ("gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens"))
    _set_first(usage, "output", a, ("gen_ai.usage.completion_tokens", "gen_ai.usage.output_tokens"))
    _set_first(usage, "total", a, ("ai.usage.tokens",))
    _set_first(usage, "input_cached_tokens", a, ("ai.usage.cachedInputTokens",))
    _set_first(usage, "output_reasoning_tokens", a, ("ai.usage.reasoningTokens",))
    metadata = a.get("ai.response.providerMetadata")
    provider = loads_or_none(metadata) if isinstance(metadata, str) else metadata
    if isinstance(provider, dict):
        _vercel_provider_usage(usage, provider)
    if "input" in usage:
        cache = sum(
            usage.get(k, 0)
            for k in (
                "input_cached_tokens",
                "input_cache_creation",
                "input_cache_creation_5m",
                "input_cache_creation_1h",
                "input_cache_read",
            )
        )
        usage["input"] = max(usage["input"] - cache, 0)
    if "output" in usage:
        usage["output"] = max(usage["output"] - usage.get("output_reasoning_tokens", 0), 0)
    return usage


def _set_first(
    usage: UsageDetails, target: str, a: dict[str, Value], keys: tuple[str, ...]
) -> None:
    for key in keys:
        if key in a:
            count = as_non_negative_int(a[key])
            if count is not None:
                usage[target] = count
            return


def _fill(usage: UsageDetails, target: str, source: dict[str, Value], key: str) -> None:
    if target not in usage:
        count = as_non_negative_int(source.get(key))
        if count is not None:
            usage[target] = count


def _vercel_provider_usage(usage: UsageDetails, provider: dict[str, Value]) -> None:
    openai = provider.get("openai")
    if isinstance(openai, dict):
        _fill(usage, "input_cached_tokens", openai, "cachedPromptTokens")
        _fill(usage, "accepted_prediction_tokens", openai, "acceptedPredictionTokens")
        _fill(usage, "rejected_prediction_tokens", openai, "rejectedPredictionTokens")
        _fill(usage, "output_reasoning_tokens", openai, "reasoningTokens")
    anthropic = provider.get("anthropic")
    anthropic_usage = anthropic.get("usage") if isinstance(anthropic, dict) else None
    if isinstance(anthropic_usage, dict):
        _fill(usage, "input_cache_creation", anthropic_usage, "cache_creation_input_tokens")
        _fill(usage, "input_cached_tokens", anthropic_usage, "cache_read_input_tokens")
        creation = anthropic_usage.get("cache_creation")
        if isinstance(creation, dict):
            _fill(usage, "input_cache_creation_5m", creation, "ephemeral_5m_input_tokens")
            _fill(usage, "input_cache_creation_1h", creation, "ephemeral_1h_input_tokens")
            usage["input_cache_creation"] = max(
                usage.get("input_cache_creation", 0)
                - usage.get("input_cache_creation_5m", 0)
                - usage.get("input_cache_creation_1h", 0),
                0,
            )
    bedrock = provider.get("bedrock")
    bedrock_usage = bedrock.get("usage") if isinstance(bedrock, dict) else None
    if isinstance(bedrock_usage, dict):
        _fill(usage, "input_cache_read", bedrock_usage, "cacheReadInputTokens")
        _fill(usage, "input_cache_write", bedrock_usage, "cacheWriteInputTokens")
        _fill(usage, "input_cache_creation", bedrock_usage, "cacheCreationInputTokens")


# ---- entry points -----------------------------------------------------------------------------


def provided_usage(view: SpanView) -> UsageDetails:
    """``provided_usage_details`` of one span (source order in the module docstring)."""
    a = view.attributes
    raw = a.get("langfuse.observation.usage_details")
    if truthy(raw):
        parsed = loads_or_none(raw) if isinstance(raw, str) else raw
        return usage_from_object(parsed) if isinstance(parsed, dict) else {}
    if view.scope.name == "ai":
        return vercel_usage(a)
    return generic_usage(a, view.groups)


def provided_cost(view: SpanView) -> dict[str, str]:
    """``provided_cost_details`` (key → USD decimal string) of one span.

    ``langfuse.observation.cost_details`` JSON object (values that are not non-negative numbers
    are dropped; an unparsable or non-object value falls through) › ``gen_ai.usage.cost`` ›
    ``llm.cost.total`` (both as ``{"total": ...}``).
    """
    a = view.attributes
    raw = a.get("langfuse.observation.cost_details")
    if truthy(raw):
        parsed = loads_or_none(raw) if isinstance(raw, str) else raw
        if isinstance(parsed, dict):
            cost: dict[str, str] = {}
            for key, value in parsed.items():
                amount = as_decimal_string(value)
                if amount is not None:
                    cost[key] = amount
            return cost
    for key in ("gen_ai.usage.cost", "llm.cost.total"):
        value = a.get(key)
        if truthy(value):
            amount = as_decimal_string(value)
            if amount is not None:
                return {"total": amount}
    return {}
