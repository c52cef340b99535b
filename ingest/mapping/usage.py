"""Provided usage and cost of a span (docs/reference/langfuse.md §1.10 and §1.8 costDetails).

Usage (``ObservationRecord.provided_usage_details``, Langfuse usage keys → token counts), first
source that applies:

1. ``langfuse.observation.usage_details``: a JSON object (non-object → ``{}``), through the
   schema pass: strict OpenAI Chat usage ``{prompt_tokens, completion_tokens, total_tokens,
   prompt_tokens_details?, completion_tokens_details?}`` → ``input/output/total`` plus
   ``input_<k>`` / ``output_<k>`` per detail, each detail subtracted from input/output (floor 0);
   strict OpenAI Responses usage (``input_tokens``, ...) likewise; else a free map keeping the
   non-negative integer values.
2. scope ``genkit-tracer``: ``genkit:output.usage`` when present (``genkit_usage``);
   scope ``ai`` (Vercel AI SDK): ``gen_ai.usage.*`` + ``ai.usage.*`` + provider metadata;
   scope ``gcp.vertex.agent`` with an LLM response: generic + cached content tokens
   (``google_adk_usage``).
3. generic: ``gen_ai.usage.*`` (not ``gen_ai.usage.cost``) and ``llm.token_count.*``, prefixes
   stripped, then normalised (``GENERIC_RULES``): ``input`` = prompt − cache read − cache
   creation − audio/image/video, ``output`` = completion − reasoning − audio (floor 0),
   ``total``, the bucket keys ``input_cached_tokens`` / ``input_cache_creation`` /
   ``input_audio_tokens`` / ``input_image_tokens`` / ``input_video_tokens`` /
   ``output_reasoning_tokens`` / ``output_audio_tokens``; other keys pass through (a leading
   ``details.`` stripped).

Invariant (docs/architecture.md "Tokens and cost"): ``input`` excludes cache buckets and ``output``
excludes reasoning/audio, so buckets are additive.

Cost (``provided_cost_details``, key → USD decimal string): ``langfuse.observation.cost_details``
(JSON object) › ``gen_ai.usage.cost`` → ``{"total"}`` › ``llm.cost.total`` → ``{"total"}``.
"""

from __future__ import annotations

from typing import Final

from ingest.mapping.values import (
    Value,
    as_decimal_string,
    as_non_negative_int,
    loads_or_none,
    truthy,
)
from ingest.mapping.view import SpanView, presence_bit

__all__ = [
    "GENERIC_RULES",
    "TEXT_MODALITY",
    "generic_usage",
    "genkit_usage",
    "google_adk_usage",
    "provided_cost",
    "provided_usage",
    "usage_from_object",
    "vercel_usage",
]

UsageDetails = dict[str, int]

# ---- generic GenAI / OpenInference path -------------------------------------------------------

GENERIC_RULES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
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
            "cache_write.input_tokens",
            "input_tokens.cache_write",
            "cache_creation_input_tokens",
            "cache_write_tokens",
            "details.cache_write_tokens",
            "details.cache_creation_input_tokens",
            "prompt_details.cache_write",
            "input_cache_creation",
        ),
    ),
    ("input_audio_tokens", ("audio.input_tokens", "prompt_details.audio")),
    ("input_image_tokens", ("image.input_tokens",)),
    ("input_video_tokens", ("video.input_tokens",)),
    (
        "output_reasoning_tokens",
        (
            "reasoning.output_tokens",
            "completion_details.reasoning",
            "reasoning_tokens",
            "details.reasoning_tokens",
        ),
    ),
    ("output_audio_tokens", ("audio.output_tokens", "completion_details.audio")),
)
"""Langfuse key ← source suffixes (after ``gen_ai.usage.`` / ``llm.token_count.``), first wins.
Every listed suffix is consumed; unlisted suffixes pass through, except the GenAI semconv text
modality counts (``TEXT_MODALITY``). Deliberate deviations from Langfuse, which passes these
through unchanged (so a pass-through key is counted on top of ``input``/``output`` and priced as
nothing): OpenInference's ``prompt_details.audio``, OpenLLMetry's ``reasoning_tokens`` and
pydantic-ai's ``details.reasoning_tokens`` (both the OpenAI ``completion_tokens_details`` count,
inside ``output_tokens``), and the GenAI semconv (registry of
``open-telemetry/semantic-conventions-genai``) ``cache_write.input_tokens`` (and the variant
``input_tokens.cache_write``), ``{image,audio,video}.input_tokens`` and ``audio.output_tokens`` are
subsets of the inclusive ``input_tokens`` / ``output_tokens``, so each becomes its Langfuse bucket
and is subtracted exactly once, keeping buckets additive and priced at the genai-prices rate of
that bucket (``processors/pricing/catalog_units.py``)."""

TEXT_MODALITY: Final = frozenset({"text.input_tokens", "text.output_tokens"})
"""GenAI semconv text modality counts: what is left of input/output once the other buckets are
taken out, so they are dropped rather than stored as a second copy of those tokens."""

_SOURCE_RANK: Final[dict[str, tuple[str, int]]] = {
    source: (target, rank)
    for target, sources in GENERIC_RULES
    for rank, source in enumerate(sources)
}
"""source suffix → (Langfuse key, rank among that key's sources); built from ``GENERIC_RULES``."""

_INPUT_BUCKETS: Final = (
    "input_cached_tokens",
    "input_cache_creation",
    "input_audio_tokens",
    "input_image_tokens",
    "input_video_tokens",
)
_OUTPUT_BUCKETS: Final = ("output_reasoning_tokens", "output_audio_tokens")
_TOTAL_OF_BUCKET: Final[dict[str, str]] = {
    **dict.fromkeys(_INPUT_BUCKETS, "input"),
    **dict.fromkeys(_OUTPUT_BUCKETS, "output"),
}
_GENERIC_PREFIXES: Final = ("gen_ai.usage.", "llm.token_count.")
_KEY_RANK: Final[dict[str, tuple[str, int]]] = {
    prefix + source: known for prefix in _GENERIC_PREFIXES for source, known in _SOURCE_RANK.items()
}
"""``_SOURCE_RANK`` by full attribute key (``gen_ai.usage.input_tokens`` → ``("input", 1)``)."""
_NO_RANK: Final = len(_SOURCE_RANK)


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
            value = attributes[key]
            count = value if type(value) is int and value >= 0 else as_non_negative_int(value)
            if count is None:
                continue
            known = _KEY_RANK.get(key)
            if known is None:
                suffix = key[cut:]
                if suffix not in TEXT_MODALITY:
                    passthrough.append((suffix, count))
                continue
            target, rank = known
            if rank < ranks.get(target, _NO_RANK):
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
    taken: dict[str, int] = {}
    for key, count in usage.items():
        total_key = _TOTAL_OF_BUCKET.get(key)
        if total_key is not None:
            taken[total_key] = taken.get(total_key, 0) + count
    for total_key, count in taken.items():
        total = usage.get(total_key)
        if total is not None:
            usage[total_key] = max(total - count, 0)


# ---- langfuse.observation.usage_details -------------------------------------------------------

_CHAT_SCHEMA: Final = ("prompt_tokens", "completion_tokens", "total_tokens")
_CHAT_DETAILS: Final = ("prompt_tokens_details", "completion_tokens_details")
_RESPONSES_SCHEMA: Final = ("input_tokens", "output_tokens", "total_tokens")
_RESPONSES_DETAILS: Final = ("input_tokens_details", "output_tokens_details")


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
    scope = view.scope.name
    if scope == "genkit-tracer":
        genkit = genkit_usage(a)
        if genkit is not None:
            return genkit
    elif scope == "ai":
        return vercel_usage(a)
    elif scope == "gcp.vertex.agent" and "gcp.vertex.agent.llm_response" in a:
        return google_adk_usage(a, view.groups)
    return generic_usage(a, view.groups)


# ---- Genkit, Google ADK -----------------------------------------------------------------------


def genkit_usage(attributes: dict[str, Value]) -> UsageDetails | None:
    """Usage of a Genkit span from ``genkit:output.usage``, or None when it has none.

    ``inputTokens`` → ``input``, ``outputTokens`` − ``thoughtsTokens`` → ``output`` (floor 0),
    ``totalTokens`` → ``total``, ``thoughtsTokens`` → ``output_reasoning``; zero counts are left
    out (Langfuse ``extractUsageDetails``, scope ``genkit-tracer``).

    Deliberate deviation: ``cachedContentTokens`` (Gemini's ``cachedContentTokenCount``, part of
    ``inputTokens``) → ``input_cached_tokens``, taken out of ``input`` as for Google ADK; Langfuse
    ignores it and bills the cached tokens at the full input rate.

    Deliberate deviation: when input + output + thoughts fit in ``totalTokens``, the output count
    already excludes the thoughts (Genkit's Google AI / Vertex AI plugins pass Gemini's
    ``candidatesTokenCount``, and Gemini's total is prompt + candidates + thoughts), so they are
    not subtracted again; Langfuse would drop them from the billed output.
    """
    raw = attributes.get("genkit:output")
    output = loads_or_none(raw) if isinstance(raw, str) else raw
    counts = output.get("usage") if isinstance(output, dict) else None
    if not isinstance(counts, dict):
        return None
    input_tokens = as_non_negative_int(counts.get("inputTokens"))
    output_tokens = as_non_negative_int(counts.get("outputTokens"))
    total = as_non_negative_int(counts.get("totalTokens"))
    thoughts = as_non_negative_int(counts.get("thoughtsTokens"))
    cached = as_non_negative_int(counts.get("cachedContentTokens"))
    usage: UsageDetails = {}
    if input_tokens:
        usage["input"] = max(input_tokens - (cached or 0), 0)
    if cached:
        usage["input_cached_tokens"] = cached
    if output_tokens:
        excludes_thoughts = bool(
            thoughts and total and (input_tokens or 0) + output_tokens + thoughts <= total
        )
        usage["output"] = (
            output_tokens if excludes_thoughts else max(output_tokens - (thoughts or 0), 0)
        )
    if total:
        usage["total"] = total
    if thoughts:
        usage["output_reasoning"] = thoughts
    return usage


def google_adk_usage(attributes: dict[str, Value], groups: dict[str, list[str]]) -> UsageDetails:
    """Usage of a Google ADK 1.x LLM span (scope ``gcp.vertex.agent``).

    The generic usage, plus — when no cache-read count was sent — ``usage_metadata.
    cached_content_token_count`` of ``gcp.vertex.agent.llm_response`` as
    ``input_cached_tokens``, taken out of ``input`` (floor 0), since ADK's prompt count includes
    cached tokens (Langfuse ``extractUsageDetails``).
    """
    usage = generic_usage(attributes, groups)
    if "input_cached_tokens" in usage:
        return usage
    raw = attributes["gcp.vertex.agent.llm_response"]
    response = loads_or_none(raw) if isinstance(raw, str) else raw
    metadata = response.get("usage_metadata") if isinstance(response, dict) else None
    cached = metadata.get("cached_content_token_count") if isinstance(metadata, dict) else None
    count = as_non_negative_int(cached)
    if count:
        usage["input_cached_tokens"] = count
        if "input" in usage:
            usage["input"] = max(usage["input"] - count, 0)
    return usage


_COST_BIT: Final = presence_bit(
    frozenset({"langfuse.observation.cost_details", "gen_ai.usage.cost", "llm.cost.total"})
)


def provided_cost(view: SpanView) -> dict[str, str]:
    """``provided_cost_details`` (key → USD decimal string) of one span.

    ``langfuse.observation.cost_details`` JSON object (values that are not non-negative numbers
    are dropped; an unparsable or non-object value falls through) › ``gen_ai.usage.cost`` ›
    ``llm.cost.total`` (both as ``{"total": ...}``).
    """
    if not view.may_have(_COST_BIT):
        return {}
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
