"""Checks shared by the OTLP logs end-to-end tests (all-in-one and scale-out): what the
``tests.clients.openai_logs`` client sent must come back from the read API exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tests.support.fake_openai import REPLY

__all__ = ["check_trace", "logs_client_env", "wait_for"]


def logs_client_env(
    http_url: str, grpc_target: str, authorization: str, openai_url: str
) -> dict[str, str]:
    """Environment of ``tests.clients.openai_logs``."""
    return {
        "OPENAI_BASE_URL": openai_url,
        "OTELFUSE_HTTP_URL": http_url,
        "OTELFUSE_GRPC_TARGET": grpc_target,
        "OTELFUSE_AUTHORIZATION": authorization,
    }


def check_trace(trace: dict[str, Any], semconv: str, n: int | None = None) -> None:
    """One root span and one generation (nothing doubled), the generation's input/output from
    the log records (nothing missing), and one evaluation score on it."""
    observations = trace["observations"]
    assert len(observations) == 2, observations
    [generation] = [o for o in observations if o["type"] == "GENERATION"]
    question = "What is OTLP?" if n is None else f"What is OTLP? ({n})"
    assert question in json.dumps(generation["input"]), generation
    assert REPLY in json.dumps(generation["output"]), generation
    if semconv == "legacy":
        assert [m["role"] for m in generation["input"]] == ["system", "user"]
        assert generation["output"]["message"]["content"] == REPLY
    scores = trace["scores"]
    assert len(scores) == 1, scores
    [score] = scores
    assert score["name"] == "relevance" and score["observationId"] == generation["id"]
    assert score["dataType"] == "CATEGORICAL" and score["stringValue"] == "relevant"
    assert score["value"] == 0.9 and score["comment"] == "Answers the question."


def wait_for(fetch: Callable[[], Any], check: Callable[[Any], None], timeout: float = 60) -> Any:
    """``fetch()`` until ``check`` passes on it (asynchronous pipelines: scale-out)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        try:
            check(value)
            return value
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
