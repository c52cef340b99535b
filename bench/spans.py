"""Realistic GenAI trace exports for the load benchmark.

Each trace is an agent span with two chat generations (OTel GenAI semantic conventions):
model, temperature, usage with cache reads, and about 1 KB of input/output messages per
generation. Requests reuse one template message and only get fresh ids, so building a request
costs the generator little CPU.
"""

from __future__ import annotations

import json
import os
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

__all__ = ["RequestFactory"]

SPANS_PER_TRACE = 3


def _kv(key: str, value: str | int | float) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=value))


def _messages(seed: int) -> tuple[str, str]:
    question = ("Summarise the incident report and propose next steps. " * 8)[:480]
    answer = ("The outage came from an expired certificate on the gateway. " * 8)[:480]
    inputs = [
        {"role": "system", "parts": [{"type": "text", "content": "You are an SRE assistant."}]},
        {"role": "user", "parts": [{"type": "text", "content": f"{question} #{seed}"}]},
    ]
    outputs = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": answer}],
            "finish_reason": "stop",
        }
    ]
    return json.dumps(inputs), json.dumps(outputs)


class RequestFactory:
    """Builds ``ExportTraceServiceRequest`` bodies of ``traces`` traces (3 spans each).

    Trace and span ids come from ``os.urandom``, or with ``seed`` from ``random.Random(seed)``,
    so two factories of the same ``traces`` and ``seed`` build the same sequence of ids
    (timestamps still follow the clock).
    """

    def __init__(self, traces: int, seed: int | None = None) -> None:
        self.traces = traces
        self._random_bytes = os.urandom if seed is None else random.Random(seed).randbytes
        self.spans = traces * SPANS_PER_TRACE
        spans: list[Span] = []
        for i in range(traces):
            root = Span(
                name="agent-run",
                kind=Span.SPAN_KIND_INTERNAL,
                attributes=[_kv("user.id", f"user-{i % 50}"), _kv("session.id", f"s-{i % 200}")],
            )
            spans.append(root)
            for j in range(SPANS_PER_TRACE - 1):
                inputs, outputs = _messages(i * 10 + j)
                spans.append(
                    Span(
                        name="chat gpt-4o",
                        kind=Span.SPAN_KIND_CLIENT,
                        attributes=[
                            _kv("gen_ai.operation.name", "chat"),
                            _kv("gen_ai.provider.name", "openai"),
                            _kv("gen_ai.request.model", "gpt-4o"),
                            _kv("gen_ai.response.model", "gpt-4o-2024-08-06"),
                            _kv("gen_ai.request.temperature", 0.2),
                            _kv("gen_ai.usage.input_tokens", 820 + j),
                            _kv("gen_ai.usage.output_tokens", 140 + j),
                            _kv("gen_ai.usage.cache_read.input_tokens", 256),
                            _kv("gen_ai.input.messages", inputs),
                            _kv("gen_ai.output.messages", outputs),
                        ],
                    )
                )
        self._request = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=Resource(
                        attributes=[
                            _kv("service.name", "bench-agent"),
                            _kv("deployment.environment.name", "bench"),
                            _kv("telemetry.sdk.language", "python"),
                        ]
                    ),
                    scope_spans=[
                        ScopeSpans(
                            scope=InstrumentationScope(name="bench.genai", version="1.0"),
                            spans=spans,
                        )
                    ],
                )
            ]
        )

    def build(self) -> tuple[bytes, list[str]]:
        """A serialized request with fresh ids and current times, and its trace ids (hex)."""
        spans = self._request.resource_spans[0].scope_spans[0].spans
        now = time.time_ns()
        trace_ids: list[str] = []
        root_id = b""
        trace_id = b""
        for index, span in enumerate(spans):
            if index % SPANS_PER_TRACE == 0:
                trace_id = self._random_bytes(16)
                trace_ids.append(trace_id.hex())
                root_id = self._random_bytes(8)
                span.span_id = root_id
            else:
                span.span_id = self._random_bytes(8)
                span.parent_span_id = root_id
            span.trace_id = trace_id
            span.start_time_unix_nano = now - 2_000_000_000
            span.end_time_unix_nano = now
        return self._request.SerializeToString(), trace_ids
