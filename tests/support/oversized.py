"""Spans with oversized inputs for the claim-check tests (``storage.blobs.claim_check``), and
the checks that a read gives back exactly what was sent."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.support.service import Service

TWENTY_MB = 20 * 1024 * 1024


def payload(size: int) -> str:
    """``size`` characters of random (non-JSON) text."""
    return base64.b64encode(os.urandom(size * 3 // 4 + 3)).decode()[:size]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def span(trace_id: bytes, name: str, value: str | None = None) -> Span:
    """A span whose ``langfuse.observation.input`` is ``value``."""
    attributes = [KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o"))]
    if value is not None:
        attributes.append(
            KeyValue(key="langfuse.observation.input", value=AnyValue(string_value=value))
        )
    return Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        name=name,
        start_time_unix_nano=1_763_770_000_000_000_000,
        end_time_unix_nano=1_763_770_001_000_000_000,
        attributes=attributes,
    )


def export_body(*spans: Span) -> bytes:
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])]
    ).SerializeToString()


def export(svc: Service, *spans: Span) -> httpx.Response:
    """OTLP/HTTP protobuf export of ``spans`` to ``svc``."""
    return svc.client.post(
        "/v1/traces",
        content=export_body(*spans),
        headers={"Authorization": svc.authorization, "Content-Type": "application/x-protobuf"},
        timeout=120,
    )


def wait_observation(query: Service, observation_id: str, timeout: float = 60) -> dict[str, Any]:
    """``GET /api/public/observations/{id}`` once it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        response = query.client.get(
            f"/api/public/observations/{observation_id}",
            headers={"Authorization": query.authorization},
            timeout=120,
        )
        if response.status_code == 200:
            found: dict[str, Any] = response.json()
            return found
        assert response.status_code == 404, response.text
        assert time.monotonic() < deadline, f"observation {observation_id} never arrived"
        time.sleep(0.3)


def assert_reads_return(query: Service, trace_id: str, observation_id: str, value: str) -> None:
    """Every read endpoint returns ``value`` as the observation's input (compared by
    SHA-256): v1 by id and list, the trace by id, v2 with the io group, the trace list."""
    expected = sha(value)
    auth = {"Authorization": query.authorization}
    one = wait_observation(query, observation_id)
    assert sha(one["input"]) == expected
    listed = query.client.get(
        "/api/public/observations", params={"traceId": trace_id}, headers=auth, timeout=120
    ).json()["data"]
    assert [sha(o["input"]) for o in listed if o["id"] == observation_id] == [expected]
    trace = query.client.get(f"/api/public/traces/{trace_id}", headers=auth, timeout=120).json()
    found = [o for o in trace["observations"] if o["id"] == observation_id]
    assert [sha(o["input"]) for o in found] == [expected]
    v2 = query.client.get(
        "/api/public/v2/observations",
        params={"traceId": trace_id, "fields": "core,io"},
        headers=auth,
        timeout=120,
    ).json()["data"]
    assert [sha(o["input"]) for o in v2 if o["id"] == observation_id] == [expected]
