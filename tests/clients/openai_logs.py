"""The ``openai`` client instrumented with ``opentelemetry-instrumentation-openai-v2`` in events
mode (content capture on): spans and GenAI event log records, exported with the OpenTelemetry
SDK's OTLP exporters to otelfuse in a chosen order.

Usage: ``python -m tests.clients.openai_logs http|grpc log-first|span-first|alternate
legacy|latest [N]``.

- ``latest``: content capture ``EVENT_ONLY``
  (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``; with opentelemetry-util-genai 1.1 the
  instrumentation always follows the latest conventions and ``true`` is no longer a valid
  value): one ``gen_ai.client.inference.operation.details`` record per call, content in the
  attributes;
- ``legacy``: the instrumentation without content, plus the older ``gen_ai.{system,user}.message``
  and ``gen_ai.choice`` records (content in the body) built by the instrumentation's own
  ``utils.message_to_event`` / ``choice_to_event`` and emitted in the chat span's context.

Each of the N traces (default 1) is a root span around one chat call; an evaluation result of
the chat span is emitted as a ``gen_ai.evaluation.result`` log record. Spans and log records
are captured in memory, then sent with the real OTLP exporters (``OTLPSpanExporter`` /
``OTLPLogExporter`` of the chosen transport) in chunks of 100 traces, logs before spans
(``log-first``) or after them (``span-first``), or one then the other chunk by chunk
(``alternate``).

Env: OPENAI_BASE_URL (the fake server), OTELFUSE_HTTP_URL, OTELFUSE_GRPC_TARGET,
OTELFUSE_AUTHORIZATION. Prints ``{"trace_ids": [...], "spans": n, "logs": n}``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

CHUNK = 100


def configure(semconv: str) -> None:
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    content = "EVENT_ONLY" if semconv == "latest" else "NO_CONTENT"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = content


def exporters(transport: str) -> tuple[Any, Any]:
    auth = os.environ["OTELFUSE_AUTHORIZATION"]
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        target = os.environ["OTELFUSE_GRPC_TARGET"]
        headers = {"authorization": auth}
        return (
            OTLPSpanExporter(endpoint=target, insecure=True, headers=headers),
            OTLPLogExporter(endpoint=target, insecure=True, headers=headers),
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HTTPLogs
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpans,
    )

    base = os.environ["OTELFUSE_HTTP_URL"]
    return (
        HTTPSpans(endpoint=f"{base}/v1/traces", headers={"Authorization": auth}),
        HTTPLogs(
            endpoint=f"{base}/api/public/otel/v1/logs",
            headers={"Authorization": auth},
            compression=Compression.Gzip,
        ),
    )


def chunks(items: Sequence[Any], trace_ids: Sequence[int], start: int) -> list[Any]:
    wanted = set(trace_ids[start : start + CHUNK])
    return [item for item in items if _trace_id(item) in wanted]


def _trace_id(item: Any) -> int:
    context = getattr(item, "context", None)
    if context is not None and hasattr(context, "trace_id"):
        return int(context.trace_id)
    return int(item.log_record.trace_id)


def main() -> None:
    transport, order, semconv = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    configure(semconv)

    from openai import OpenAI
    from opentelemetry import trace
    from opentelemetry._logs import LogRecord
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.instrumentation.openai_v2.utils import choice_to_event, message_to_event
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import NonRecordingSpan

    resource = Resource.create({"service.name": f"openai-logs-{semconv}"})
    spans_memory = InMemorySpanExporter()
    logs_memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans_memory))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs_memory))
    OpenAIInstrumentor().instrument(
        tracer_provider=tracer_provider, logger_provider=logger_provider
    )
    tracer = tracer_provider.get_tracer("e2e.openai-logs")
    evaluator = logger_provider.get_logger("e2e.evaluator")
    legacy = logger_provider.get_logger("opentelemetry.instrumentation.openai_v2")
    client = OpenAI(api_key="sk-fake")

    trace_ids: list[int] = []
    for n in range(count):
        messages: list[Any] = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"What is OTLP? ({n})"},
        ]
        with tracer.start_as_current_span(f"ask-{n}") as root:
            reply = client.chat.completions.create(model="gpt-4o", messages=messages)
            trace_ids.append(root.get_span_context().trace_id)
        chat = next(
            s
            for s in spans_memory.get_finished_spans()
            if s.context.trace_id == trace_ids[-1] and s.name.startswith("chat")
        )
        if semconv == "legacy":
            with trace.use_span(NonRecordingSpan(chat.context)):
                for message in messages:
                    legacy.emit(message_to_event(message, True))
                for choice in reply.choices:
                    legacy.emit(choice_to_event(choice, True))
        evaluator.emit(
            LogRecord(
                event_name="gen_ai.evaluation.result",
                context=trace.set_span_in_context(NonRecordingSpan(chat.context)),
                attributes={
                    "gen_ai.evaluation.name": "relevance",
                    "gen_ai.evaluation.score.value": 0.9,
                    "gen_ai.evaluation.score.label": "relevant",
                    "gen_ai.evaluation.explanation": "Answers the question.",
                },
            )
        )

    spans = spans_memory.get_finished_spans()
    logs = logs_memory.get_finished_logs()
    span_exporter, log_exporter = exporters(transport)
    for start in range(0, count, CHUNK):
        batch_spans = chunks(spans, trace_ids, start)
        batch_logs = chunks(logs, trace_ids, start)
        steps = [(span_exporter, batch_spans), (log_exporter, batch_logs)]
        if order == "log-first" or (order == "alternate" and start // CHUNK % 2 == 0):
            steps.reverse()
        for exporter, items in steps:
            result = exporter.export(items)
            if result.name != "SUCCESS":
                raise SystemExit(f"export failed: {result}")
    span_exporter.shutdown()
    log_exporter.shutdown()
    print(
        json.dumps(
            {
                "trace_ids": [format(t, "032x") for t in trace_ids],
                "spans": len(spans),
                "logs": len(logs),
            }
        )
    )


if __name__ == "__main__":
    main()
