"""End to end through Kafka: OTLP exporter → receiver → Kafka → processor → ClickHouse → query
API, each role its own process."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from tests.scaleout.conftest import Stack
from tests.support.otel import emit_agent_trace, provider_for
from tests.support.service import Service


def wait_for_trace(query: Service, trace_id: str, observations: int, timeout: float = 30) -> Any:
    """Poll the query API until the trace has ``observations`` observations."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = query.get(f"/api/public/traces/{trace_id}")
        if response.status_code == 200 and len(response.json()["observations"]) >= observations:
            return response.json()
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} not complete after {timeout}s")


def test_a_trace_flows_through_kafka(stack: Stack) -> None:
    exporter = OTLPSpanExporter(
        endpoint=stack.receiver.grpc_target,
        insecure=True,
        headers={"authorization": stack.receiver.authorization},
    )
    with provider_for(exporter, "scaleout") as provider:
        trace_id = emit_agent_trace(provider, user_id="scaleout-user")

    trace = wait_for_trace(stack.processor, trace_id, 3)
    assert trace["name"] == "agent-run" and trace["userId"] == "scaleout-user"
    chat = next(o for o in trace["observations"] if o["type"] == "GENERATION")
    assert chat["usageDetails"]["total"] == 1200
    assert Decimal(str(chat["costDetails"]["total"])) == Decimal("0.004375")

    metrics = stack.processor.client.get("/metrics").text
    assert "otelfuse_processor_batches_total" in metrics
    assert "otelfuse_receiver_accepted_spans_total" in stack.receiver.client.get("/metrics").text
