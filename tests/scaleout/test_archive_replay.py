"""Re-pricing by replay in scale-out (issue 13): receiver → Kafka → processor with PostgreSQL
custom prices, the archiver writing the raw archive to S3 (SeaweedFS), then
``otelfuse replay --via-kafka`` after a price change: every generation shows the new cost, the
observation and trace counts are unchanged and no id is listed twice, another project's rows are
untouched (their JSON, ``updatedAt`` included); a second replay changes nothing."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.scaleout.conftest import start_stack, stop_stack
from tests.support.postgres import Postgres, cli_env
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, SeaweedFS
from tests.support.service import Service, basic_auth, otelfuse_cli, start_service

pytestmark = [pytest.mark.timeout(300)]

MODEL = "acme-scale"
COST_X, COST_Y = Decimal("1.4"), Decimal("3.8")  # 1000 input and 200 output tokens


def _export(trace: int) -> dict[str, Any]:
    start = time.time_ns()

    def span(n: int, name: str, model: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {
            "traceId": f"{trace:032x}",
            "spanId": f"{trace * 10 + n:016x}",
            "name": name,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 1_000_000),
            "attributes": [],
        }
        if n:
            body["parentSpanId"] = f"{trace * 10:016x}"
        if model:
            body["attributes"] = [
                {"key": "gen_ai.request.model", "value": {"stringValue": model}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "200"}},
            ]
        return body

    spans = [span(0, "agent"), span(1, "answer", MODEL)]
    return {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}


def _costs(query: Service, auth: str) -> dict[str, Decimal]:
    data = query.get("/api/public/observations", {"limit": 100}, auth=auth).json()["data"]
    ids = [o["id"] for o in data]
    assert len(ids) == len(set(ids)), "an observation listed twice"
    return {
        o["id"]: Decimal(str(o["calculatedTotalCost"] or 0)) for o in data if o["model"] == MODEL
    } | {o["id"]: Decimal(-1) for o in data if o["model"] != MODEL}


def _observations(query: Service, auth: str) -> list[dict[str, Any]]:
    """The project's observations, full JSON, in id order."""
    data = query.get("/api/public/observations", {"limit": 100}, auth=auth).json()["data"]
    return sorted(data, key=lambda o: str(o["id"]))


def _wait(query: Service, auth: str, check: Any, timeout: float = 60) -> dict[str, Decimal]:
    deadline = time.monotonic() + timeout
    costs: dict[str, Decimal] = {}
    while time.monotonic() < deadline:
        costs = _costs(query, auth)
        if check(costs):
            return costs
        time.sleep(0.3)
    raise AssertionError(f"not reached in {timeout}s: {costs}")


def test_replay_via_kafka_reprices(
    postgres_server: Postgres, s3_server: SeaweedFS, tmp_path: Path
) -> None:
    url = postgres_server.create_database("archive_replay")
    s3 = {
        "OTELFUSE_BLOB_BACKEND": "s3",
        "OTELFUSE_S3_ENDPOINT": s3_server.endpoint,
        "OTELFUSE_S3_BUCKET": f"archive-{uuid.uuid4().hex[:8]}",
        "OTELFUSE_S3_REGION": REGION,
        "OTELFUSE_S3_ACCESS_KEY": ACCESS_KEY,
        "OTELFUSE_S3_SECRET_KEY": SECRET_KEY,
    }
    extra = {
        "OTELFUSE_MODEL_CACHE_TTL_S": "1",
        "OTELFUSE_ARCHIVE_OBJECT_MAX_AGE_S": "0.5",
        **s3,
    }
    stack = start_stack(tmp_path / "stack", url, extra)
    archiver = start_service(tmp_path / "archiver", stack.env, role=("archiver",))
    try:
        env = cli_env(
            url, tmp_path / "cli", **s3, OTELFUSE_KAFKA_BOOTSTRAP_SERVERS=stack.broker.bootstrap
        )
        otelfuse_cli(["projects", "create", "--name", "Replay", "--id", "proj-r"], env)
        key = json.loads(
            otelfuse_cli(["keys", "create", "--project", "proj-r", "--json"], env).stdout
        )
        auth = basic_auth(key["publicKey"], key["secretKey"])
        model = {"modelName": MODEL, "matchPattern": f"^{MODEL}$", "unit": "TOKENS"}
        created = stack.processor.client.post(
            "/api/public/models",
            json={**model, "inputPrice": 0.001, "outputPrice": 0.002},
            headers={"Authorization": auth},
        )
        assert created.status_code == 200, created.text
        time.sleep(1.2)
        started = datetime.now(UTC)
        for trace in (1, 2, 3):
            sent = stack.receiver.client.post(
                "/v1/traces", json=_export(trace), headers={"Authorization": auth}
            )
            assert sent.status_code == 200, sent.text
        before = _wait(
            stack.processor, auth, lambda c: sorted(c.values()) == [-1] * 3 + [COST_X] * 3
        )
        # another project's trace, which no replay of proj-r may touch (not even updatedAt)
        other_auth = stack.receiver.authorization
        sent = stack.receiver.client.post(
            "/v1/traces", json=_export(9), headers={"Authorization": other_auth}
        )
        assert sent.status_code == 200, sent.text
        _wait(stack.processor, other_auth, lambda c: len(c) == 2)
        other_before = _observations(stack.processor, other_auth)
        put = stack.processor.client.put(
            f"/api/public/models/{created.json()['id']}",
            json={**model, "inputPrice": 0.003, "outputPrice": 0.004},
            headers={"Authorization": auth},
        )
        assert put.status_code == 200, put.text
        time.sleep(2.5)  # the processors' model cache; the archiver's last object

        window = ["--from", (started - timedelta(minutes=1)).isoformat()]
        window += ["--to", (datetime.now(UTC) + timedelta(minutes=1)).isoformat()]
        for _ in range(2):
            replay = otelfuse_cli(
                ["replay", "--project", "proj-r", *window, "--via-kafka", "--json"], env
            )
            summary = json.loads(replay.stdout[replay.stdout.index("{") :])
            assert summary["requests"] == 3 and summary["records"] == 6, summary
            after = _wait(
                stack.processor, auth, lambda c: sorted(c.values()) == [-1] * 3 + [COST_Y] * 3
            )
            assert after.keys() == before.keys()
            traces = stack.processor.get("/api/public/traces", {"limit": 100}, auth=auth).json()
            assert sorted(t["id"] for t in traces["data"]) == [f"{n:032x}" for n in (1, 2, 3)]
            assert traces["meta"]["totalItems"] == 3
            assert _observations(stack.processor, other_auth) == other_before
    finally:
        archiver.stop()
        stop_stack(stack)
