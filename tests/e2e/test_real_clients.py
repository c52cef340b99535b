"""Real SDKs and instrumentations against ``otelfuse run``: the Langfuse Python SDK 5.x and the
``openai`` client instrumented with opentelemetry-instrumentation-openai-v2 and with
openinference-instrumentation-openai, calling a local fake OpenAI server.

Each client runs in its own interpreter (tests/clients/) because SDKs patch global state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from tests.support.clients import run_client
from tests.support.fake_openai import REPLY, RESPONSE_MODEL, fake_openai
from tests.support.service import Service


@pytest.fixture(scope="module")
def openai_url() -> Iterator[str]:
    with fake_openai() as url:
        yield url


def price(model: str, **usage: int) -> Decimal:
    return Decimal(calc_price(Usage(**usage), model_ref=model, provider_id="openai").total_price)


def test_langfuse_sdk_span_with_generation(service: Service) -> None:
    out = run_client("langfuse_sdk", env=service.langfuse_env())
    trace = service.get_json(f"/api/public/traces/{out['trace_id']}")
    assert trace["name"] == "lf-request"
    assert trace["userId"] == "lf-user" and trace["sessionId"] == "lf-session"
    assert trace["tags"] == ["sdk"]
    assert trace["environment"] == "production" and trace["release"] == "v1.2.3"
    assert trace["input"] == {"question": "What is OTLP?"}
    assert trace["output"] == {"answer": "A protocol."}
    assert len(trace["observations"]) == 2

    by_type = {o["type"]: o for o in trace["observations"]}
    span, generation = by_type["SPAN"], by_type["GENERATION"]
    assert generation["parentObservationId"] == span["id"]
    assert generation["name"] == "lf-generation" and generation["model"] == "gpt-4o"
    assert generation["modelParameters"] == {"temperature": 0.1}
    assert generation["input"] == [{"role": "user", "content": "What is OTLP?"}]
    assert generation["output"] == {"role": "assistant", "content": "A protocol."}
    assert generation["metadata"]["step"] == 1
    assert generation["usageDetails"] == {"input": 1000, "output": 200, "total": 1200}
    expected = price("gpt-4o", input_tokens=1000, output_tokens=200)
    assert expected == Decimal("0.0045")
    assert Decimal(str(generation["costDetails"]["total"])) == expected
    assert Decimal(str(generation["costDetails"]["input"])) == Decimal("0.0025")
    assert Decimal(str(trace["totalCost"])) == expected
    assert generation["usageEstimated"] is False


def _openai_env(service: Service, openai_url: str) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": openai_url,
        "OTELFUSE_TRACES_URL": f"{service.http_url}/v1/traces",
        "OTELFUSE_AUTHORIZATION": service.authorization,
    }


def _generation(service: Service, trace_id: str) -> dict[str, Any]:
    trace = service.get_json(f"/api/public/traces/{trace_id}")
    generations = [o for o in trace["observations"] if o["type"] == "GENERATION"]
    assert len(generations) == 1, trace["observations"]
    generation: dict[str, Any] = generations[0]
    return generation


def test_openai_v2_instrumentation(service: Service, openai_url: str) -> None:
    out = run_client("openai_instrumented", "openai-v2", env=_openai_env(service, openai_url))
    generation = _generation(service, out["trace_id"])
    assert generation["name"] == "chat gpt-4o"
    assert generation["model"] == RESPONSE_MODEL  # gen_ai.response.model wins
    assert generation["modelParameters"]["temperature"] in (0.3, "0.3")
    assert generation["usageDetails"] == {"input": 13, "output": 5, "total": 18}
    assert Decimal(str(generation["costDetails"]["total"])) == price(
        RESPONSE_MODEL, input_tokens=13, output_tokens=5
    )
    messages = generation["input"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert REPLY in json.dumps(generation["output"])


def test_openinference_instrumentation(service: Service, openai_url: str) -> None:
    out = run_client("openai_instrumented", "openinference", env=_openai_env(service, openai_url))
    generation = _generation(service, out["trace_id"])
    assert generation["model"] == RESPONSE_MODEL
    # llm.token_count.*: cached prompt tokens and reasoning tokens are split out; zero audio
    # counts are kept, as Langfuse keeps every non-negative count
    assert generation["usageDetails"] == {
        "input": 10,
        "input_audio_tokens": 0,
        "input_cached_tokens": 3,
        "output": 4,
        "output_audio_tokens": 0,
        "output_reasoning_tokens": 1,
        "total": 18,
    }
    assert Decimal(str(generation["costDetails"]["total"])) == price(
        RESPONSE_MODEL, input_tokens=13, cache_read_tokens=3, output_tokens=5
    )
    assert "What is OTLP?" in json.dumps(generation["input"])
    assert REPLY in json.dumps(generation["output"])
