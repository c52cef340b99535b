"""Client load and exactly-once checks for the reliability tests.

``ExportLoad`` runs several client threads, each with a real OpenTelemetry OTLP exporter (HTTP
or gRPC), each exporting many small traces by calling ``exporter.export()`` directly (one call
per trace, so every trace has a known outcome: the exporter's own retries with backoff included,
``SpanExportResult.SUCCESS`` or ``FAILURE``). ``verify_exactly_once`` then checks through the
query API that every span of the given traces is queryable exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.service import Service

Transport = Literal["http", "grpc"]

SPANS_PER_TRACE = 3


@dataclass(frozen=True)
class Exported:
    """One trace a client exported: its spans and what the exporter reported."""

    trace_id: str
    span_ids: frozenset[str]
    spans: tuple[ReadableSpan, ...]
    transport: Transport
    success: bool
    seconds: float


def exporter_for(receiver: Service, transport: Transport, timeout_s: float) -> SpanExporter:
    """A real OTLP exporter pointed at ``receiver``; it retries 503/UNAVAILABLE within
    ``timeout_s`` (the Python exporters back off 1, 2, 4... s, or as Retry-After says)."""
    if transport == "http":
        return HttpSpanExporter(
            endpoint=f"{receiver.http_url}/v1/traces",
            headers={"Authorization": receiver.authorization},
            timeout=timeout_s,
        )
    return GrpcSpanExporter(
        endpoint=receiver.grpc_target,
        insecure=True,
        headers={"authorization": receiver.authorization},
        timeout=timeout_s,
    )


class TraceMaker:
    """Builds finished traces of ``SPANS_PER_TRACE`` spans, all named ``name``: a root span, a
    GenAI chat generation with usage (so no tokenizing) and a plain child span."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._spans = InMemorySpanExporter()
        self._provider = TracerProvider(resource=Resource.create({"service.name": name}))
        self._provider.add_span_processor(SimpleSpanProcessor(self._spans))
        self._tracer = self._provider.get_tracer("tests.scaleout")

    def trace(self) -> tuple[ReadableSpan, ...]:
        with self._tracer.start_as_current_span(self.name) as root:
            root.set_attribute("user.id", "reliability")
            with self._tracer.start_as_current_span(self.name) as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.request.model", "gpt-4o")
                chat.set_attribute("gen_ai.usage.input_tokens", 10)
                chat.set_attribute("gen_ai.usage.output_tokens", 2)
            with self._tracer.start_as_current_span(self.name):
                pass
        spans = tuple(self._spans.get_finished_spans())
        self._spans.clear()
        assert len(spans) == SPANS_PER_TRACE
        return spans


def export_trace(
    exporter: SpanExporter, spans: Sequence[ReadableSpan], transport: Transport
) -> Exported:
    started = time.monotonic()
    result = exporter.export(spans)
    context = spans[0].get_span_context()
    assert context is not None
    return Exported(
        trace_id=format(context.trace_id, "032x"),
        span_ids=frozenset(
            format(ctx.span_id, "016x") for s in spans if (ctx := s.get_span_context())
        ),
        spans=tuple(spans),
        transport=transport,
        success=result is SpanExportResult.SUCCESS,
        seconds=time.monotonic() - started,
    )


@dataclass
class ExportLoad:
    """``clients`` threads exporting traces named ``name`` until ``stop()``.

    Threads alternate between OTLP/HTTP and OTLP/gRPC exporters, each waiting ``pause_s``
    between exports.
    """

    receiver: Service
    name: str
    clients: int = 4
    exporter_timeout_s: float = 30.0
    pause_s: float = 0.02
    results: list[Exported] = field(default_factory=list, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False, repr=False)
    _errors: list[BaseException] = field(default_factory=list, init=False, repr=False)

    def start(self) -> ExportLoad:
        for n in range(self.clients):
            transport: Transport = "http" if n % 2 == 0 else "grpc"
            thread = threading.Thread(
                target=self._client, args=(transport,), name=f"{self.name}-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _client(self, transport: Transport) -> None:
        maker = TraceMaker(self.name)
        exporter = exporter_for(self.receiver, transport, self.exporter_timeout_s)
        try:
            while not self._stop.is_set():
                exported = export_trace(exporter, maker.trace(), transport)
                with self._lock:
                    self.results.append(exported)
                self._stop.wait(self.pause_s)
        except BaseException as exc:  # surfaced by stop()
            self._errors.append(exc)
        finally:
            exporter.shutdown()

    def count(self, success: bool = True) -> int:
        with self._lock:
            return sum(1 for r in self.results if r.success is success)

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        until(lambda: bool(self._errors) or condition(), what, timeout)
        assert not self._errors, self._errors

    def stop(self, timeout: float = 90) -> list[Exported]:
        """Stop the clients (each finishes its current export, retries included)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), f"{thread.name} still exporting after {timeout}s"
        assert not self._errors, self._errors
        return list(self.results)


def until(condition: Callable[[], bool], what: str, timeout: float = 60) -> float:
    """Poll ``condition`` every 50 ms; return the seconds it took, fail after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def count_named(query: Service, name: str, what: str = "observations") -> int:
    """Observations (or traces) named ``name`` in the project, as the query API counts them."""
    body = query.get_json(f"/api/public/{what}", {"name": name, "limit": 1})
    return int(body["meta"]["totalItems"])


def metric(service: Service, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` on the service's /metrics that carry ``labels``."""
    total = 0.0
    for line in service.client.get("/metrics").text.splitlines():
        if not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        metric_name, _, label_text = sample.partition("{")
        if metric_name != name:
            continue
        if all(f'{key}="{val}"' in label_text for key, val in labels.items()):
            total += float(value)
    return total


def verify_exactly_once(
    query: Service, name: str, traces: Sequence[Exported], timeout: float = 90
) -> float:
    """Wait until the query API has every span of ``traces`` (all named ``name``) and one trace
    row per trace (named ``name`` after its root span), then check each trace:
    ``meta.totalItems`` equals its span count and the returned ids are exactly its span ids,
    each once. Returns the seconds spent waiting.

    The processor inserts a batch's observations before its trace rows, so the two counts are
    polled together.

    Raises:
        AssertionError: more spans or traces named ``name`` than expected (duplicates or
            strays), a trace incomplete after ``timeout`` seconds, or a trace with wrong or
            duplicate ids.
    """
    expected = sum(len(t.span_ids) for t in traces)
    assert len({t.trace_id for t in traces}) == len(traces), "a trace was exported twice"
    seen: list[tuple[int, int]] = []

    def complete() -> bool:
        counts = (count_named(query, name), count_named(query, name, "traces"))
        seen.append(counts)
        assert counts[0] <= expected, f"{counts[0]} spans named {name}, {expected} exported"
        assert counts[1] <= len(traces), f"{counts[1]} traces named {name}, {len(traces)} sent"
        return counts == (expected, len(traces))

    try:
        waited = until(complete, f"{expected} spans in {len(traces)} traces named {name}", timeout)
    except AssertionError:
        missing = [t.trace_id for t in traces if not _trace_ok(query, t)[0]]
        raise AssertionError(
            f"(spans, traces) queryable: {seen[-1:]} of {(expected, len(traces))}; "
            f"{len(missing)} traces with missing spans, e.g. {missing[:5]}"
        ) from None
    with ThreadPoolExecutor(4) as pool:
        problems = [why for ok, why in pool.map(lambda t: _trace_ok(query, t), traces) if not ok]
    assert not problems, f"{len(problems)} traces wrong, e.g. {problems[:5]}"
    for exported in traces[:3]:  # the trace view agrees
        trace = query.get_json(f"/api/public/traces/{exported.trace_id}")
        ids = [o["id"] for o in trace["observations"]]
        assert sorted(ids) == sorted(exported.span_ids), (exported.trace_id, ids)
    return waited


def _trace_ok(query: Service, exported: Exported) -> tuple[bool, str]:
    body: Any = query.get_json(
        "/api/public/observations", {"traceId": exported.trace_id, "limit": 100}
    )
    ids = [o["id"] for o in body["data"]]
    total = body["meta"]["totalItems"]
    once = len(ids) == len(set(ids))
    if once and total == len(ids) and set(ids) == exported.span_ids:
        return True, ""
    return False, f"trace {exported.trace_id}: totalItems {total}, ids {sorted(ids)}"
