"""GenAI event log records through Kafka (scale-out): the real openai-v2 instrumentation sends
spans and log records with the SDK's OTLP exporters to the receiver role, both transports, in
both orders; records travel under the trace id, the processor folds the log content onto the
span, and the query API (``processor --query``) reads each trace back exactly once.

Also the measurement of issue 11: spans + logs of 1,000 traces, chunks of 100 alternating log
first and span first, nothing missing and nothing doubled (the numbers are printed; run with
``-s`` to see them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.scaleout.conftest import Stack
from tests.support.clients import run_client
from tests.support.fake_openai import fake_openai
from tests.support.genai_logs import check_trace, logs_client_env, wait_for


@pytest.fixture(scope="module")
def openai_url() -> Iterator[str]:
    with fake_openai() as url:
        yield url


def _env(stack: Stack, openai_url: str) -> dict[str, str]:
    receiver = stack.receiver
    return logs_client_env(
        receiver.http_url, receiver.grpc_target, receiver.authorization, openai_url
    )


def _trace(stack: Stack, trace_id: str) -> Any:
    response = stack.processor.get(f"/api/public/traces/{trace_id}")
    return response.json() if response.status_code == 200 else {"observations": [], "scores": []}


@pytest.mark.parametrize("order", ["log-first", "span-first"])
@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_logs_through_kafka(stack: Stack, openai_url: str, transport: str, order: str) -> None:
    out = run_client("openai_logs", transport, order, "latest", env=_env(stack, openai_url))
    [trace_id] = out["trace_ids"]
    wait_for(lambda: _trace(stack, trace_id), lambda trace: check_trace(trace, "latest"))


def _total(stack: Stack, path: str, **params: Any) -> int:
    body = stack.processor.get_json(path, {"limit": 1, **params})
    return int(body["meta"]["totalItems"])


def test_thousand_traces_nothing_missing_nothing_doubled(stack: Stack, openai_url: str) -> None:
    counts: dict[str, tuple[str, dict[str, str]]] = {
        "observations": ("/api/public/observations", {}),
        "generations": ("/api/public/observations", {"type": "GENERATION"}),
        "scores": ("/api/public/v2/scores", {}),
    }
    before = {name: _total(stack, path, **params) for name, (path, params) in counts.items()}
    started = time.monotonic()
    env = _env(stack, openai_url)
    out = run_client("openai_logs", "http", "alternate", "legacy", "1000", env=env)
    sent = time.monotonic() - started
    trace_ids: list[str] = out["trace_ids"]
    assert len(set(trace_ids)) == 1000
    assert (out["spans"], out["logs"]) == (2000, 4000)  # per trace: root + chat; 3 messages + eval
    expected = {"observations": 2000, "generations": 1000, "scores": 1000}
    for name, (path, params) in counts.items():
        _wait_for_total(stack, path, params, before[name] + expected[name])
    visible = time.monotonic() - started
    for n, trace_id in enumerate(trace_ids):
        check_trace(_trace(stack, trace_id), "legacy", n)
    checked = time.monotonic() - started
    print(
        f"\n1,000 traces through Kafka: {out['spans']} spans + {out['logs']} log records sent in"
        f" {sent:.1f} s (client run incl. 1,000 fake OpenAI calls); 2,000 observations and"
        f" 1,000 scores stored after {visible:.1f} s; every trace checked (content from the logs,"
        f" one score, no extra row) after {checked:.1f} s"
    )


def _wait_for_total(stack: Stack, path: str, params: dict[str, str], expected: int) -> None:
    def check(total: int) -> None:
        assert total == expected, (path, params, total, expected)

    wait_for(lambda: _total(stack, path, **params), check, timeout=120)
