"""A real Prometheus (Debian package) scrapes every role of the local stack and sees the
spans that went through it."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from tests.scaleout.conftest import Stack
from tests.support.otel import emit_agent_trace, provider_for
from tests.support.service import free_port


@pytest.fixture
def prometheus(stack: Stack, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus missing: run deploy/local/system-deps.sh (Debian prometheus)"
    targets = [
        url.removeprefix("http://") for url in (stack.receiver.http_url, stack.processor.http_url)
    ]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: otelfuse\n"
        f"    static_configs: [{{targets: {targets}}}]\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _query(url: str, promql: str) -> list[Any]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    result: list[Any] = response.json()["data"]["result"]
    return result


def test_prometheus_scrapes_every_role(stack: Stack, prometheus: str) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f"{stack.receiver.http_url}/v1/traces",
        headers={"Authorization": stack.receiver.authorization},
    )
    with provider_for(exporter, "prometheus-test") as provider:
        emit_agent_trace(provider, user_id="prom")

    deadline = time.monotonic() + 60
    up: list[Any] = []
    accepted: list[Any] = []
    records: list[Any] = []
    while time.monotonic() < deadline:
        try:
            up = _query(prometheus, 'up{job="otelfuse"} == 1')
            accepted = _query(prometheus, "sum(otelfuse_receiver_accepted_spans_total) >= 3")
            records = _query(
                prometheus, 'sum(otelfuse_processor_records_total{outcome="success"}) >= 3'
            )
        except httpx.HTTPError:
            pass
        if len(up) == 2 and accepted and records:
            break
        time.sleep(0.5)
    assert len(up) == 2, "both roles scraped and up"
    assert accepted and records, (accepted, records)
    roles = _query(prometheus, "otelfuse_build_info")
    assert {r["metric"]["role"] for r in roles} == {"receiver", "processor"}
