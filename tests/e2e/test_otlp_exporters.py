"""Real OpenTelemetry exporters (gRPC, HTTP protobuf, HTTP gzip) and a hand-written OTLP/JSON
body against ``otelfuse run``; the spans come back from the query API with the right fields.

An export that returned success must be queryable at once
(docs/architecture.md "Guarantees and how they are met"), so the tests query right after the
exporter returns, without polling.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GRPCExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HTTPExporter,
)
from opentelemetry.sdk.trace.export import SpanExporter

from tests.support.otel import MESSAGES_IN, MESSAGES_OUT, emit_agent_trace, provider_for
from tests.support.service import Service


def _exporters(service: Service) -> dict[str, SpanExporter]:
    auth = service.authorization
    return {
        "grpc": GRPCExporter(
            endpoint=service.grpc_target, insecure=True, headers={"authorization": auth}
        ),
        "http-protobuf": HTTPExporter(
            endpoint=f"{service.http_url}/v1/traces", headers={"Authorization": auth}
        ),
        "http-gzip-langfuse-path": HTTPExporter(
            endpoint=f"{service.http_url}/api/public/otel/v1/traces",
            headers={"Authorization": auth},
            compression=Compression.Gzip,
        ),
    }


@pytest.mark.parametrize("transport", ["grpc", "http-protobuf", "http-gzip-langfuse-path"])
def test_exported_agent_trace_is_queryable(service: Service, transport: str) -> None:
    exporter = _exporters(service)[transport]
    with provider_for(exporter, f"svc-{transport}") as provider:
        trace_id = emit_agent_trace(provider, user_id=f"user-{transport}", fail_tool=True)

    trace = service.get_json(f"/api/public/traces/{trace_id}")
    assert trace["id"] == trace_id
    assert trace["name"] == "agent-run"
    assert trace["userId"] == f"user-{transport}"
    assert trace["sessionId"] == "session-e2e"
    assert sorted(trace["tags"]) == ["agent", "e2e"]
    assert trace["environment"] == "staging"
    assert trace["latency"] >= 0

    by_name = {o["name"]: o for o in trace["observations"]}
    assert set(by_name) == {"agent-run", "chat gpt-4o", "get_weather"}
    root, chat, tool = by_name["agent-run"], by_name["chat gpt-4o"], by_name["get_weather"]
    assert root["type"] == "SPAN" and root["parentObservationId"] is None
    assert chat["parentObservationId"] == root["id"] == tool["parentObservationId"]
    assert tool["type"] == "TOOL"
    assert tool["level"] == "ERROR" and tool["statusMessage"] == "weather service down"
    # unknown attributes are kept under metadata.attributes (docs/reference/langfuse.md §1.12)
    assert root["metadata"]["attributes"]["app.custom"] == "kept-in-metadata"
    assert root["metadata"]["resourceAttributes"]["service.name"] == f"svc-{transport}"

    assert chat["type"] == "GENERATION"
    assert chat["model"] == "gpt-4o"
    assert chat["modelParameters"]["temperature"] in (0.2, "0.2")
    # input excludes the 100 cache-read tokens (docs/reference/langfuse.md §1.10)
    assert chat["usageDetails"] == {
        "input": 900,
        "input_cached_tokens": 100,
        "output": 200,
        "total": 1200,
    }
    expected = calc_price(
        Usage(input_tokens=1000, cache_read_tokens=100, output_tokens=200),
        model_ref="gpt-4o",
        provider_id="openai",
    ).total_price
    assert Decimal(str(chat["costDetails"]["total"])) == expected
    assert Decimal(str(trace["totalCost"])) == expected
    assert chat["input"] == MESSAGES_IN
    assert chat["output"] == MESSAGES_OUT
    # microsecond timestamps survive the round trip
    assert chat["startTime"].endswith("Z") and len(chat["startTime"].split(".")[1]) == 7


def test_hand_written_otlp_json(service: Service) -> None:
    trace_id = "5B8EFFF798038103D269B633813FC60C"  # upper-case hex, as in the OTLP examples
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "hand.written"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": "EEE19B7EC3C1B174",
                                "name": "llm call",
                                "kind": 3,
                                "startTimeUnixNano": "1763770000123456789",
                                "endTimeUnixNano": "1763770001654321000",
                                "attributes": [
                                    {"key": "llm.model_name", "value": {"stringValue": "gpt-4o"}},
                                    {"key": "llm.token_count.prompt", "value": {"intValue": "10"}},
                                    {"key": "llm.token_count.completion", "value": {"intValue": 5}},
                                    {"key": "input.value", "value": {"stringValue": "hi"}},
                                    {"key": "output.value", "value": {"stringValue": "hello"}},
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = service.client.post(
        "/v1/traces",
        content=json.dumps(body),
        headers={"Authorization": service.authorization, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}

    trace = service.get_json(f"/api/public/traces/{trace_id.lower()}")
    (obs,) = trace["observations"]
    assert obs["id"] == "eee19b7ec3c1b174"
    assert obs["type"] == "GENERATION"
    assert obs["startTime"] == "2025-11-22T00:06:40.123456Z"
    assert obs["endTime"] == "2025-11-22T00:06:41.654321Z"
    assert obs["usageDetails"] == {"input": 10, "output": 5, "total": 15}
    assert obs["input"] == "hi" and obs["output"] == "hello"
    assert trace["latency"] == pytest.approx(1.530865)


def test_observations_list_filters_by_trace_and_type(service: Service) -> None:
    with provider_for(_exporters(service)["http-protobuf"], "svc-list") as provider:
        trace_id = emit_agent_trace(provider, user_id="user-list")
    page = service.get_json("/api/public/observations", {"traceId": trace_id, "type": "GENERATION"})
    assert [o["name"] for o in page["data"]] == ["chat gpt-4o"]
    assert page["meta"]["totalItems"] == 1
    traces = service.get_json("/api/public/traces", {"userId": "user-list"})
    assert [t["id"] for t in traces["data"]] == [trace_id]
    assert len(traces["data"][0]["observations"]) == 3
