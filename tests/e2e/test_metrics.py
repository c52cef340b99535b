"""The /metrics exposition of a running service passes ``promtool check metrics`` and counts
what happened (Prometheus's own linter, Debian package ``prometheus``). Counts are summed over
the ``worker`` label (``metric_total``), so the test holds for one process and, run with
``OTELFUSE_WORKERS=2``, for worker processes (tests/e2e/test_workers.py checks those too)."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.support.otel import plain_export
from tests.support.service import Service, metric_total

ACCEPTED = "otelfuse_receiver_accepted_spans_total"


def test_metrics_pass_promtool_and_count_spans(service: Service) -> None:
    before = metric_total(service.client.get("/metrics").text, ACCEPTED, transport="http")
    body = plain_export(os.urandom(16), 7).SerializeToString()
    response = service.client.post(
        "/v1/traces",
        content=body,
        headers={"Authorization": service.authorization, "Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    service.get("/api/public/traces")
    after = service.metrics_when(ACCEPTED, before + 7, {"transport": "http"})
    assert metric_total(after, ACCEPTED, transport="http") - before == 7
    content_type = service.client.get("/metrics").headers["content-type"]
    assert content_type.startswith("text/plain")
    assert 'otelfuse_build_info{role="run",version=' in after
    assert 'route="/api/public/traces"' in after  # route template, not the raw path

    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run deploy/local/system-deps.sh (Debian prometheus)"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=after, capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
