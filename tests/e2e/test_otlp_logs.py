"""GenAI event log records from the real ``opentelemetry-instrumentation-openai-v2`` (events mode,
content capture on) through the OpenTelemetry SDK's OTLP log exporters, both transports, into
``otelfuse run``: the log content and the evaluation score land on the chat span's observation
in both arrival orders, exactly once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.clients import run_client
from tests.support.fake_openai import fake_openai
from tests.support.genai_logs import check_trace, logs_client_env
from tests.support.service import Service


@pytest.fixture(scope="module")
def openai_url() -> Iterator[str]:
    with fake_openai() as url:
        yield url


@pytest.mark.parametrize("semconv", ["legacy", "latest"])
@pytest.mark.parametrize("order", ["log-first", "span-first"])
@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_openai_v2_logs(
    service: Service, openai_url: str, transport: str, order: str, semconv: str
) -> None:
    env = logs_client_env(service.http_url, service.grpc_target, service.authorization, openai_url)
    out = run_client("openai_logs", transport, order, semconv, env=env)
    assert out["logs"] == (4 if semconv == "legacy" else 2)  # system, user, choice | details; eval
    [trace_id] = out["trace_ids"]
    check_trace(service.get_json(f"/api/public/traces/{trace_id}"), semconv)


def test_not_genai_log_records_are_refused(service: Service) -> None:
    body = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {"logRecords": [{"body": {"stringValue": "app started"}, "severityNumber": 9}]}
                ]
            }
        ]
    }
    response = service.client.post(
        "/v1/logs", json=body, headers={"Authorization": service.authorization}
    )
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1"
    assert "otelfuse stores GenAI events only" in partial["errorMessage"]
    metrics = service.client.get("/metrics").text
    assert 'otelfuse_receiver_refused_log_records_total{reason="not_genai",transport="http"}' in (
        metrics
    )
