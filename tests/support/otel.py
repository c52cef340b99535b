"""Building spans with the real OpenTelemetry SDK for the end-to-end tests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode

MESSAGES_IN = [
    {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
    {"role": "user", "parts": [{"type": "text", "content": "What is OTLP?"}]},
]
MESSAGES_OUT = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "The OpenTelemetry Protocol."}],
        "finish_reason": "stop",
    }
]


def plain_export(trace_id: bytes, spans: int) -> ExportTraceServiceRequest:
    """An OTLP export of ``spans`` plain spans (names ``s0``, ``s1``, ...; random span ids) in
    trace ``trace_id``, without resource or attributes: the smallest valid load."""
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            Span(
                                trace_id=trace_id,
                                span_id=os.urandom(8),
                                name=f"s{i}",
                                start_time_unix_nano=1_763_770_000_000_000_000 + i,
                            )
                            for i in range(spans)
                        ]
                    )
                ]
            )
        ]
    )


@contextmanager
def provider_for(exporter: SpanExporter, service_name: str) -> Iterator[TracerProvider]:
    """A TracerProvider exporting every span synchronously on end (SimpleSpanProcessor)."""
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service_name, "deployment.environment.name": "Staging"}
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider
    finally:
        provider.shutdown()


def emit_agent_trace(provider: TracerProvider, *, user_id: str, fail_tool: bool = False) -> str:
    """Emit root agent span > chat generation + tool span; return the trace id (hex).

    The generation follows the OTel GenAI semantic conventions (gpt-4o, 1000 input and 200
    output tokens, 100 of the input tokens cache reads).
    """
    tracer = provider.get_tracer("e2e.agent", "1.0.0")
    with tracer.start_as_current_span("agent-run") as root:
        root.set_attribute("user.id", user_id)
        root.set_attribute("session.id", "session-e2e")
        root.set_attribute("langfuse.trace.tags", ["e2e", "agent"])
        root.set_attribute("app.custom", "kept-in-metadata")
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.provider.name", "openai")
            chat.set_attribute("gen_ai.request.model", "gpt-4o")
            chat.set_attribute("gen_ai.request.temperature", 0.2)
            chat.set_attribute("gen_ai.usage.input_tokens", 1000)
            chat.set_attribute("gen_ai.usage.output_tokens", 200)
            chat.set_attribute("gen_ai.usage.cache_read.input_tokens", 100)
            chat.set_attribute("gen_ai.input.messages", json.dumps(MESSAGES_IN))
            chat.set_attribute("gen_ai.output.messages", json.dumps(MESSAGES_OUT))
        with tracer.start_as_current_span("execute_tool get_weather") as tool:
            tool.set_attribute("gen_ai.tool.name", "get_weather")
            tool.set_attribute("gen_ai.tool.call.id", "call_1")
            if fail_tool:
                tool.set_status(Status(StatusCode.ERROR, "weather service down"))
        return format(root.get_span_context().trace_id, "032x")
