"""The ``openai`` client instrumented with an OpenTelemetry instrumentation, exporting to
otelfuse over OTLP/HTTP protobuf.

Usage: ``python -m tests.clients.openai_instrumented openai-v2|openinference``.
Env: OPENAI_BASE_URL (the fake server), OTELFUSE_TRACES_URL, OTELFUSE_AUTHORIZATION.
Prints ``{"trace_id": ...}``.
"""

from __future__ import annotations

import json
import os
import sys

from openai import OpenAI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def instrument(flavour: str, provider: TracerProvider) -> None:
    if flavour == "openai-v2":
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif flavour == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIInstrumentor

        OIInstrumentor().instrument(tracer_provider=provider)
    else:
        raise SystemExit(f"unknown flavour {flavour}")


def main() -> None:
    flavour = sys.argv[1]
    provider = TracerProvider(resource=Resource.create({"service.name": f"openai-{flavour}"}))
    exporter = OTLPSpanExporter(
        endpoint=os.environ["OTELFUSE_TRACES_URL"],
        headers={"Authorization": os.environ["OTELFUSE_AUTHORIZATION"]},
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(flavour, provider)
    tracer = provider.get_tracer("e2e.openai")
    client = OpenAI(api_key="sk-fake")
    with tracer.start_as_current_span(f"ask-{flavour}") as root:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "What is OTLP?"},
            ],
            temperature=0.3,
        )
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    print(json.dumps({"trace_id": trace_id}))


if __name__ == "__main__":
    main()
