"""The /metrics exposition of a running service passes ``promtool check metrics`` and counts
what happened (Prometheus's own linter, Debian package ``prometheus``)."""

from __future__ import annotations

import os
import shutil
import subprocess

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.support.service import Service


def _sample(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def test_metrics_pass_promtool_and_count_spans(service: Service) -> None:
    before = service.client.get("/metrics").text
    body = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            Span(
                                trace_id=os.urandom(16),
                                span_id=os.urandom(8),
                                name="m",
                                start_time_unix_nano=1_763_770_000_000_000_000,
                            )
                            for _ in range(7)
                        ]
                    )
                ]
            )
        ]
    ).SerializeToString()
    response = service.client.post(
        "/v1/traces",
        content=body,
        headers={"Authorization": service.authorization, "Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    service.get("/api/public/traces")
    response = service.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = response.text

    accepted = 'otelfuse_receiver_accepted_spans_total{transport="http"}'
    assert _sample(after, accepted) - _sample(before, accepted) == 7
    assert 'otelfuse_build_info{role="run",version=' in after
    assert 'route="/api/public/traces"' in after  # route template, not the raw path

    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run deploy/local/system-deps.sh (Debian prometheus)"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=after, capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
