"""GenAI event log records from the real ``opentelemetry-instrumentation-openai-v2`` (events mode,
content capture on) through the OpenTelemetry SDK's OTLP log exporters, both transports, into
``otelfuse run``: the log content and the evaluation score land on the chat span's observation
in both arrival orders, exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.clients import run_client
from tests.support.fake_openai import fake_openai
from tests.support.genai_logs import check_trace, logs_client_env
from tests.support.service import Service, metric_total

REFUSED = "otelfuse_receiver_refused_log_records_total"


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
    labels = {"reason": "not_genai", "transport": "http"}
    before = metric_total(service.client.get("/metrics").text, REFUSED, **labels)
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
    after = service.metrics_when(REFUSED, before + 1, labels)
    assert metric_total(after, REFUSED, **labels) == before + 1


def test_thousand_traces_nothing_missing_nothing_doubled(service: Service, openai_url: str) -> None:
    """Issue 11's measurement in all-in-one: spans + logs of 1,000 traces over gRPC, chunks of
    100 alternating log first and span first (run with ``-s`` for the numbers)."""
    before = _total(service, "/api/public/observations"), _total(service, "/api/public/v2/scores")
    env = logs_client_env(service.http_url, service.grpc_target, service.authorization, openai_url)
    started = time.monotonic()
    out = run_client("openai_logs", "grpc", "alternate", "latest", "1000", env=env)
    sent = time.monotonic() - started
    assert (len(set(out["trace_ids"])), out["spans"], out["logs"]) == (1000, 2000, 2000)
    # all-in-one answers once written: everything is readable when the client returns
    after = _total(service, "/api/public/observations"), _total(service, "/api/public/v2/scores")
    assert (after[0] - before[0], after[1] - before[1]) == (2000, 1000)
    for n, trace_id in enumerate(out["trace_ids"]):
        check_trace(service.get_json(f"/api/public/traces/{trace_id}"), "latest", n)
    print(
        f"\n1,000 traces all-in-one over gRPC: {out['spans']} spans + {out['logs']} log records"
        f" sent and stored in {sent:.1f} s (client run incl. 1,000 fake OpenAI calls); every"
        f" trace checked after {time.monotonic() - started:.1f} s"
    )


def _total(service: Service, path: str) -> int:
    return int(service.get_json(path, {"limit": 1})["meta"]["totalItems"])
