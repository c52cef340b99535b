"""Provided usage (docs/reference/langfuse.md §1.10) and provided cost (§1.8 costDetails)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ingest.mapping.spans import map_one


def usage(attributes: dict[str, Any], **kwargs: Any) -> dict[str, int]:
    return dict(map_one(attributes, **kwargs).provided_usage_details)


def cost(attributes: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    return dict(map_one(attributes, **kwargs).provided_cost_details)


# ---- generic gen_ai.usage.* / llm.token_count.* ------------------------------------------------


def test_semconv_cache_buckets_are_subtracted_from_input() -> None:
    assert usage(
        {
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
            "gen_ai.usage.cache_read.input_tokens": 700,
            "gen_ai.usage.cache_creation.input_tokens": 100,
        }
    ) == {"input": 200, "output": 200, "input_cached_tokens": 700, "input_cache_creation": 100}


def test_openinference_token_counts_with_details() -> None:
    assert usage(
        {
            "llm.token_count.prompt": 1250,
            "llm.token_count.completion": 64,
            "llm.token_count.total": 1314,
            "llm.token_count.prompt_details.cache_read": 1024,
            "llm.token_count.prompt_details.cache_write": 26,
            "llm.token_count.completion_details.reasoning": 16,
            "llm.token_count.completion_details.audio": 8,
            "llm.token_count.prompt_details.audio": 3,
        }
    ) == {
        "input": 197,  # 1250 - 1024 - 26 - 3
        "output": 40,  # 64 - 16 - 8
        "total": 1314,
        "input_cached_tokens": 1024,
        "input_cache_creation": 26,
        "input_audio_tokens": 3,  # prompt audio is a bucket of its own, like completion audio
        "output_reasoning_tokens": 16,
        "output_audio_tokens": 8,
    }


def test_unknown_usage_keys_pass_through() -> None:
    assert usage({"llm.token_count.prompt": 5, "llm.token_count.prompt_details.image": 2}) == {
        "input": 5,
        "prompt_details.image": 2,
    }


def test_subtraction_floors_at_zero() -> None:
    assert usage({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.cache_read_input_tokens": 50}) == {
        "input": 0,
        "input_cached_tokens": 50,
    }


def test_alias_precedence_and_consumed_aliases() -> None:
    # prompt_tokens › input_tokens › prompt; the losing aliases do not pass through.
    assert usage(
        {
            "gen_ai.usage.input_tokens": 90,
            "gen_ai.usage.prompt_tokens": 100,
            "llm.token_count.prompt": 80,
            "gen_ai.usage.completion_tokens": 7,
            "gen_ai.usage.total_tokens": 107,
        }
    ) == {"input": 100, "output": 7, "total": 107}


def test_details_prefix_is_stripped_and_cost_is_not_usage() -> None:
    assert usage(
        {
            "gen_ai.usage.input_tokens": 910,
            "gen_ai.usage.output_tokens": 45,
            "gen_ai.usage.details.cache_read_tokens": 512,
            "gen_ai.usage.details.reasoning_tokens": 3,
            "gen_ai.usage.cost": 0.5,
        }
    ) == {"input": 398, "output": 42, "input_cached_tokens": 512, "output_reasoning_tokens": 3}


def test_openllmetry_reasoning_tokens_are_a_bucket_of_output() -> None:
    # opentelemetry-instrumentation-openai 0.62 (tests/fixtures/otlp/openllmetry_openai.json):
    # gen_ai.usage.reasoning_tokens is OpenAI's completion_tokens_details.reasoning_tokens,
    # part of output_tokens; Langfuse keeps it as an extra key, otelfuse subtracts it once.
    assert usage(
        {
            "gen_ai.usage.input_tokens": 13,
            "gen_ai.usage.output_tokens": 5,
            "gen_ai.usage.total_tokens": 18,
            "gen_ai.usage.cache_read.input_tokens": 3,
            "gen_ai.usage.reasoning_tokens": 1,
        }
    ) == {
        "input": 10,
        "output": 4,
        "total": 18,
        "input_cached_tokens": 3,
        "output_reasoning_tokens": 1,
    }


def test_non_integer_values_are_dropped() -> None:
    assert usage(
        {
            "gen_ai.usage.input_tokens": "12",
            "gen_ai.usage.output_tokens": 3.0,
            "gen_ai.usage.weird": 1.5,
            "gen_ai.usage.negative": -4,
            "gen_ai.usage.text": "many",
        }
    ) == {"input": 12, "output": 3}


# ---- langfuse.observation.usage_details ------------------------------------------------------


def test_strict_openai_chat_usage_from_the_langfuse_openai_drop_in() -> None:
    raw = {
        "prompt_tokens": 1250,
        "completion_tokens": 64,
        "total_tokens": 1314,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": None},
        "completion_tokens_details": {"reasoning_tokens": 16},
    }
    assert usage({"langfuse.observation.usage_details": json.dumps(raw)}) == {
        "input": 226,
        "output": 48,
        "total": 1314,
        "input_cached_tokens": 1024,
        "output_reasoning_tokens": 16,
    }


def test_strict_openai_responses_usage() -> None:
    raw = {
        "input_tokens": 300,
        "output_tokens": 90,
        "total_tokens": 390,
        "input_tokens_details": {"cached_tokens": 100},
        "output_tokens_details": {"reasoning_tokens": 40},
    }
    assert usage({"langfuse.observation.usage_details": json.dumps(raw)}) == {
        "input": 200,
        "output": 50,
        "total": 390,
        "input_cached_tokens": 100,
        "output_reasoning_tokens": 40,
    }


def test_non_strict_object_is_a_free_map() -> None:
    raw = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost": 0.01}
    assert usage({"langfuse.observation.usage_details": json.dumps(raw)}) == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
    }


def test_langfuse_usage_keys_pass_as_given_and_win_over_gen_ai() -> None:
    assert usage(
        {
            "langfuse.observation.usage_details": '{"input": 1000, "output": 200, "x": "7"}',
            "gen_ai.usage.input_tokens": 5,
        }
    ) == {"input": 1000, "output": 200, "x": 7}


@pytest.mark.parametrize("raw", ["[1, 2]", "not json", "42"])
def test_bad_usage_details_give_no_usage(raw: str) -> None:
    assert usage({"langfuse.observation.usage_details": raw, "gen_ai.usage.input_tokens": 5}) == {}


# ---- Vercel AI SDK ---------------------------------------------------------------------------


def test_vercel_usage_with_anthropic_cache_split() -> None:
    provider = {
        "anthropic": {
            "usage": {
                "input_tokens": 7,
                "cache_creation_input_tokens": 2089,
                "cache_read_input_tokens": 16399,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 2000,
                    "ephemeral_1h_input_tokens": 89,
                },
            }
        }
    }
    assert usage(
        {
            "gen_ai.usage.input_tokens": 18495,
            "gen_ai.usage.output_tokens": 445,
            "ai.usage.tokens": 18940,
            "ai.usage.reasoningTokens": 45,
            "ai.response.providerMetadata": json.dumps(provider),
        },
        scope_name="ai",
    ) == {
        "input": 7,  # 18495 - 16399 - 0 - 2000 - 89
        "output": 400,
        "total": 18940,
        "output_reasoning_tokens": 45,
        "input_cached_tokens": 16399,
        "input_cache_creation": 0,
        "input_cache_creation_5m": 2000,
        "input_cache_creation_1h": 89,
    }


def test_vercel_prompt_tokens_win_and_bedrock_buckets() -> None:
    provider = {"bedrock": {"usage": {"cacheReadInputTokens": 40, "cacheWriteInputTokens": 10}}}
    assert usage(
        {
            "gen_ai.usage.prompt_tokens": 100,
            "gen_ai.usage.input_tokens": 999,
            "gen_ai.usage.completion_tokens": 20,
            "ai.response.providerMetadata": json.dumps(provider),
        },
        scope_name="ai",
    ) == {"input": 60, "output": 20, "input_cache_read": 40, "input_cache_write": 10}


def test_vercel_span_without_usage_has_none() -> None:
    assert usage({"ai.operationId": "ai.toolCall"}, scope_name="ai") == {}


# ---- agent spans -----------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["invoke_agent", "agent_step"])
def test_agent_spans_get_no_model_usage_or_cost(operation: str) -> None:
    record = map_one(
        {
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.cost": 0.1,
        }
    )
    assert not record.HasField("provided_model_name")
    assert dict(record.provided_usage_details) == {}
    assert dict(record.provided_cost_details) == {}


# ---- provided cost ---------------------------------------------------------------------------


def test_cost_details_json_wins_and_values_are_decimal_strings() -> None:
    assert cost(
        {
            "langfuse.observation.cost_details": '{"input": 0.0003125, "output": 6.4e-4, '
            '"total": 0.0009525, "bad": -1, "text": "x"}',
            "gen_ai.usage.cost": 9.0,
        }
    ) == {"input": "0.0003125", "output": "0.00064", "total": "0.0009525"}


def test_gen_ai_usage_cost_then_llm_cost_total() -> None:
    assert cost({"gen_ai.usage.cost": 1e-07}) == {"total": "0.0000001"}
    assert cost({"gen_ai.usage.cost": 0.1 + 0.2}) == {"total": "0.30000000000000004"}
    assert cost({"llm.cost.total": 0.00135, "llm.cost.prompt": 0.0006}) == {"total": "0.00135"}
    assert cost({"gen_ai.usage.cost": 2, "llm.cost.total": 3}) == {"total": "2"}


def test_unparsable_cost_details_fall_through() -> None:
    assert cost({"langfuse.observation.cost_details": "{", "gen_ai.usage.cost": 0.5}) == {
        "total": "0.5"
    }


def test_no_cost() -> None:
    assert cost({"gen_ai.usage.cost": -1}) == {}
    assert cost({}) == {}


# ---- Google ADK, Genkit (Langfuse extractUsageDetails) ------------------------------------------


def test_google_adk_cached_content_tokens_leave_input() -> None:
    response = {"usage_metadata": {"prompt_token_count": 1200, "cached_content_token_count": 1000}}
    attributes = {
        "gcp.vertex.agent.llm_response": json.dumps(response),
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 30,
    }
    assert usage(attributes, scope_name="gcp.vertex.agent") == {
        "input": 200,
        "output": 30,
        "input_cached_tokens": 1000,
    }
    # an explicit cache-read count wins; other scopes do not read the response blob
    explicit = {**attributes, "gen_ai.usage.cache_read.input_tokens": 900}
    assert usage(explicit, scope_name="gcp.vertex.agent")["input_cached_tokens"] == 900
    assert usage(attributes) == {"input": 1200, "output": 30}


def test_genkit_usage_with_thoughts_as_output_reasoning() -> None:
    counts = {"inputTokens": 12, "outputTokens": 40, "thoughtsTokens": 25, "totalTokens": 52}
    output = {"message": {"role": "model", "content": [{"text": "Hi"}]}, "usage": counts}
    attributes = {
        "genkit:metadata:subtype": "model",
        "genkit:output": json.dumps(output),
        "gen_ai.usage.input_tokens": 999,
    }
    assert usage(attributes, scope_name="genkit-tracer") == {
        "input": 12,
        "output": 15,
        "total": 52,
        "output_reasoning": 25,
    }
    # Deliberate deviation: Genkit's Google AI / Vertex AI plugins report Gemini's
    # candidatesTokenCount as outputTokens, which excludes thoughtsTokenCount (their total is
    # input + output + thoughts); then the thoughts are not taken out of output a second time.
    gemini = {**output, "usage": {**counts, "totalTokens": 77}}
    assert usage(
        {**attributes, "genkit:output": json.dumps(gemini)}, scope_name="genkit-tracer"
    ) == {"input": 12, "output": 40, "total": 77, "output_reasoning": 25}
    no_usage = {**attributes, "genkit:output": json.dumps({"message": {}})}
    assert usage(no_usage, scope_name="genkit-tracer") == {"input": 999}


def test_genkit_cached_content_tokens_are_a_bucket_of_input() -> None:
    # @genkit-ai/google-genai 1.42 (tests/fixtures/otlp/genkit_recorded.json): Gemini's
    # cachedContentTokenCount, part of inputTokens. Deliberate deviation: Langfuse ignores it.
    counts = {
        "inputTokens": 30,
        "outputTokens": 6,
        "thoughtsTokens": 2,
        "totalTokens": 38,
        "cachedContentTokens": 5,
    }
    attributes = {"genkit:output": json.dumps({"usage": counts})}
    assert usage(attributes, scope_name="genkit-tracer") == {
        "input": 25,
        "input_cached_tokens": 5,
        "output": 6,
        "total": 38,
        "output_reasoning": 2,
    }


# ---- current GenAI semconv (open-telemetry/semantic-conventions-genai registry) ---------------


@pytest.mark.parametrize(
    "key",
    [
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.input_tokens.cache_write",
    ],
)
def test_cache_write_spellings(key: str) -> None:
    assert usage({"gen_ai.usage.input_tokens": 100, key: 40}) == {
        "input": 60,
        "input_cache_creation": 40,
    }


def test_per_modality_counts_are_subtracted_once() -> None:
    assert usage(
        {
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.cache_read.input_tokens": 300,
            "gen_ai.usage.cache_write.input_tokens": 100,
            "gen_ai.usage.text.input_tokens": 500,
            "gen_ai.usage.image.input_tokens": 60,
            "gen_ai.usage.audio.input_tokens": 30,
            "gen_ai.usage.video.input_tokens": 10,
            "gen_ai.usage.output_tokens": 200,
            "gen_ai.usage.reasoning.output_tokens": 50,
            "gen_ai.usage.text.output_tokens": 180,
            "gen_ai.usage.audio.output_tokens": 20,
        }
    ) == {
        "input": 500,  # 1000 - 300 - 100 - 60 - 30 - 10; the text count is what is left
        "input_cached_tokens": 300,
        "input_cache_creation": 100,
        "input_image_tokens": 60,
        "input_audio_tokens": 30,
        "input_video_tokens": 10,
        "output": 130,  # 200 - 50 - 20
        "output_reasoning_tokens": 50,
        "output_audio_tokens": 20,
    }
