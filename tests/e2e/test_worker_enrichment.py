"""Enrichment in the receiver workers (``OTELFUSE_WORKERS=2``; docs/architecture.md "Worker
processes"): the same OTLP spans and GenAI log records, sent to ``otelfuse run`` with workers and
without, are stored with the same usage and cost (reported usage, tokenizer estimates, catalog
prices, a project's custom model in PostgreSQL, a provided cost, log content folded onto a
span that arrived later); the workers enrich the spans and the owner only the span whose log
content it folded on (``otelfuse_processor_enriched_records_total`` per process).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from prometheus_client.parser import text_string_to_metric_families

from tests.support.otel import MESSAGES_IN, MESSAGES_OUT
from tests.support.service import Service, start_service

START_NS = 1_763_770_000_000_000_000
SCOPE = "opentelemetry.instrumentation.openai_v2"
CUSTOM_MODEL = {
    "modelName": "acme-private",
    "matchPattern": "(?i)^acme-private$",
    "unit": "TOKENS",
    "inputPrice": 0.000002,
    "outputPrice": 0.00001,
}
LOG_MESSAGES_IN = [
    {
        "role": "user",
        "parts": [{"type": "text", "content": "From the log record: " + "what is OTLP? " * 20}],
    }
]
ENRICHED = "otelfuse_processor_enriched_records_total"

Attributes = dict[str, str | int | float]


def _value(value: str | int | float) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(double_value=value)


def _attributes(attributes: Attributes) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in attributes.items()]


def _messages(model: str) -> Attributes:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.input.messages": json.dumps(MESSAGES_IN),
        "gen_ai.output.messages": json.dumps(MESSAGES_OUT),
    }


def _usage(input_tokens: int, output_tokens: int) -> Attributes:
    return {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}


SPANS: dict[str, Attributes] = {
    "catalog-reported": {**_messages("gpt-4o"), **_usage(1200, 80)},
    "catalog-estimated": _messages("gpt-4o"),
    "custom-reported": {**_messages("acme-private"), **_usage(5000, 700)},
    "provided-cost": {**_messages("gpt-4o-mini"), **_usage(10, 5), "gen_ai.usage.cost": 0.25},
    "error-not-estimated": {**_messages("gpt-4o")},
    "no-model": {"app.step": "retrieve"},
    "log-first": _messages("gpt-4o"),
}
"""Span name -> attributes; ``log-first`` gets its input from a log record sent before it."""


@pytest.fixture(scope="module")
def exports() -> tuple[ExportLogsServiceRequest, ExportTraceServiceRequest, dict[str, str]]:
    """The logs export (sent first), the traces export and the span ids by name."""
    trace_id = os.urandom(16)
    ids = {name: os.urandom(8) for name in SPANS}
    spans = []
    for index, (name, attributes) in enumerate(SPANS.items()):
        span = Span(
            trace_id=trace_id,
            span_id=ids[name],
            name=name,
            start_time_unix_nano=START_NS + index,
            end_time_unix_nano=START_NS + 1_000_000 + index,
            attributes=_attributes(attributes),
        )
        if name == "error-not-estimated":
            span.status.code = span.status.STATUS_CODE_ERROR
        spans.append(span)
    scope = InstrumentationScope(name=SCOPE)
    traces = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(scope=scope, spans=spans)])]
    )
    details = LogRecord(
        event_name="gen_ai.client.inference.operation.details",
        time_unix_nano=START_NS,
        trace_id=trace_id,
        span_id=ids["log-first"],
        attributes=_attributes({"gen_ai.input.messages": json.dumps(LOG_MESSAGES_IN)}),
    )
    logs = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(scope=scope, log_records=[details])])]
    )
    return logs, traces, {name: span_id.hex() for name, span_id in ids.items()}


def _start(path: Path, workers: int) -> Service:
    service = start_service(path, {"OTELFUSE_WORKERS": str(workers)})
    auth = {"Authorization": service.authorization}
    created = service.client.post("/api/public/models", json=CUSTOM_MODEL, headers=auth)
    assert created.status_code == 200, created.text
    return service


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    started: dict[str, Service] = {}
    try:
        started["one"] = _start(tmp_path_factory.mktemp("one-process"), 1)
        started["workers"] = _start(tmp_path_factory.mktemp("workers"), 2)
        yield started
    finally:
        for service in started.values():
            assert service.stop() == 0, service.log()


def _send(service: Service, path: str, body: bytes) -> None:
    headers = {"Authorization": service.authorization, "Content-Type": "application/x-protobuf"}
    response = service.client.post(path, content=body, headers=headers)
    assert response.status_code == 200, (response.status_code, response.text)
    assert b"rejected" not in response.content, response.content


def _observations(service: Service, trace_id: str) -> dict[str, dict[str, Any]]:
    page = service.get_json("/api/public/observations", {"traceId": trace_id, "limit": 100})
    return {o["name"]: o for o in page["data"]}


def _samples(service: Service, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of ``name`` on ``/metrics``, by their labels (``worker``: the worker's)."""
    text = service.client.get("/metrics").text
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _enriched(service: Service) -> dict[str, float]:
    """``otelfuse_processor_enriched_records_total`` by process: ``owner`` or the worker."""
    return {
        dict(labels).get("worker", "owner"): value
        for labels, value in _samples(service, ENRICHED).items()
    }


def _summed(service: Service, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of ``name`` summed over the processes (without the ``worker`` label)."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for labels, value in _samples(service, name).items():
        key = tuple((k, v) for k, v in labels if k != "worker")
        out[key] = out.get(key, 0.0) + value
    return out


def test_workers_store_the_usage_and_cost_of_one_process(
    services: dict[str, Service],
    exports: tuple[ExportLogsServiceRequest, ExportTraceServiceRequest, dict[str, str]],
) -> None:
    logs, traces, ids = exports
    trace_id = traces.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    stored: dict[str, dict[str, dict[str, Any]]] = {}
    for mode, service in services.items():
        _send(service, "/v1/logs", logs.SerializeToString())
        _send(service, "/v1/traces", traces.SerializeToString())
        stored[mode] = _observations(service, trace_id)
        assert sorted(stored[mode]) == sorted(SPANS), stored[mode]

    one, workers = stored["one"], stored["workers"]
    for name in SPANS:
        assert workers[name]["id"] == one[name]["id"] == ids[name]
        for observation in (one[name], workers[name]):
            observation.pop("createdAt")
            observation.pop("updatedAt")
        if name == "custom-reported":  # ids of the model and its tier in each PostgreSQL
            for key in ("modelId", "usagePricingTierId"):
                assert workers[name].pop(key) and one[name].pop(key), key
        assert workers[name] == one[name], name

    # the cases are what they claim to be
    assert one["catalog-reported"]["usageDetails"] == {"input": 1200, "output": 80, "total": 1280}
    assert one["catalog-reported"]["costDetails"]["total"] > 0
    assert one["catalog-estimated"]["usageDetails"]["input"] > 0
    assert one["catalog-estimated"]["costDetails"]["total"] > 0
    custom = one["custom-reported"]["costDetails"]
    assert custom == pytest.approx({"input": 0.01, "output": 0.007, "total": 0.017})
    assert one["provided-cost"]["costDetails"] == {"total": 0.25}
    assert one["error-not-estimated"]["level"] == "ERROR"
    assert one["error-not-estimated"]["usageDetails"] == {}
    assert one["no-model"]["usageDetails"] == {} and one["no-model"]["costDetails"] == {}
    log_first = one["log-first"]
    assert "From the log record" in json.dumps(log_first["input"])
    assert log_first["usageDetails"]["input"] > one["catalog-estimated"]["usageDetails"]["input"]


def test_the_owner_enriches_only_what_a_merge_changed(services: dict[str, Service]) -> None:
    """Run after the test above: 7 spans each, one with log content folded on by the owner;
    the tokens and cost metrics are the same in both modes."""
    assert _enriched(services["one"]) == {"owner": len(SPANS)}
    deadline = time.monotonic() + 10  # workers send their metrics every second
    while sum((counts := _enriched(services["workers"])).values()) < len(SPANS) + 1:
        assert time.monotonic() < deadline, counts
        time.sleep(0.2)
    assert counts.pop("owner") == 1  # the log-first span, enriched again after the fold
    assert sum(counts.values()) == len(SPANS)  # every span, in the workers
    for name in (
        "otelfuse_processor_tokens_total",
        "otelfuse_processor_unpriced_generations_total",
        "otelfuse_processor_cost_usd_total",
    ):  # counted once per record, by the owner, in both modes
        one, workers = _summed(services["one"], name), _summed(services["workers"], name)
        assert one and workers == pytest.approx(one), name
