"""Scale-out roles need ``OTELFUSE_POSTGRES_URL``: receiver auth, processor prices and the
processor's query API all read PostgreSQL; roles other than ``migrate`` need a migrated schema,
and none starts without a URL."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from tests.scaleout.conftest import start_stack, stop_stack
from tests.support.otel import emit_agent_trace, provider_for
from tests.support.postgres import Postgres, cli_env
from tests.support.service import Service, basic_auth, otelfuse_cli, start_service


def _wait_for_trace(query: Service, trace_id: str, auth: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = query.get(f"/api/public/traces/{trace_id}", auth=auth)
        if response.status_code == 200 and len(response.json()["observations"]) >= 3:
            return response.json()
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} not complete after {timeout}s")


@pytest.mark.parametrize("role", [("receiver",), ("processor", "--query"), ("query",)])
def test_roles_refuse_to_start_without_a_postgres_url(
    role: tuple[str, ...], tmp_path: Path
) -> None:
    env = {"OTELFUSE_POSTGRES_URL": "", "OTELFUSE_DATA_DIR": str(tmp_path)}
    result = otelfuse_cli(list(role), env, check=False)
    assert result.returncode == 2, result.stderr
    assert f"the {role[0]} role needs OTELFUSE_POSTGRES_URL" in result.stderr
    assert "otelfuse migrate" in result.stderr
    assert not (tmp_path / "postgres").exists()  # no embedded server for a scale-out role


def test_only_migrate_creates_the_initial_project(
    postgres_server: Postgres, tmp_path: Path
) -> None:
    """A role started with OTELFUSE_INIT_PROJECT_* does not create that project (several
    replicas would race for it): it warns, and the key is refused until `otelfuse migrate`
    created it."""
    url = postgres_server.create_database("init")
    data = tmp_path / "query"
    otelfuse_cli(["migrate"], cli_env(url, data))  # no initial project
    env = {"OTELFUSE_POSTGRES_URL": url, "OTELFUSE_AUTH_CACHE_TTL_S": "1"}
    query = start_service(data, env, role=("query",), timeout=60)
    try:
        assert query.get("/api/public/traces").status_code == 401
        assert "OTELFUSE_INIT_PROJECT_PUBLIC_KEY is not an active key" in query.log()
        init = {
            "OTELFUSE_INIT_PROJECT_ID": query.project_id,
            "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": query.public_key,
            "OTELFUSE_INIT_PROJECT_SECRET_KEY": query.secret_key,
        }
        migrated = otelfuse_cli(["migrate"], cli_env(url, tmp_path / "migrate", **init))
        assert f"postgres:project {query.project_id}" in migrated.stderr
        deadline = time.monotonic() + 30  # "not found" is cached for the 1 s TTL
        while query.get("/api/public/traces").status_code != 200:
            assert time.monotonic() < deadline, query.log()
            time.sleep(0.2)
    finally:
        assert query.stop() == 0, query.log()


def test_roles_refuse_an_unmigrated_schema(postgres_server: Postgres, tmp_path: Path) -> None:
    url = postgres_server.create_database("unmigrated")
    with pytest.raises(RuntimeError, match="otelfuse migrate"):
        start_service(tmp_path, {"OTELFUSE_POSTGRES_URL": url}, role=("query",), timeout=30)


@pytest.mark.slow
def test_receiver_and_processor_use_postgres(postgres_server: Postgres, tmp_path: Path) -> None:
    url = postgres_server.create_database("scaleout")
    stack = start_stack(tmp_path / "stack", url, {"OTELFUSE_MODEL_CACHE_TTL_S": "1"})
    try:
        env = cli_env(url, tmp_path / "cli")
        otelfuse_cli(["projects", "create", "--name", "Scale", "--id", "proj-s"], env)
        key = json.loads(
            otelfuse_cli(["keys", "create", "--project", "proj-s", "--json"], env).stdout
        )
        auth = basic_auth(key["publicKey"], key["secretKey"])
        model = {
            "modelName": "gpt-4o",
            "matchPattern": "(?i)^(openai/)?(gpt-4o)$",
            "inputPrice": 0.001,
            "outputPrice": 0.002,
        }
        created = stack.processor.client.post(
            "/api/public/models", json=model, headers={"Authorization": auth}
        )
        assert created.status_code == 200, created.text
        prompt = {"name": "scale/greet", "prompt": "Hi {{name}}", "labels": ["production"]}
        stored = stack.processor.client.post(
            "/api/public/v2/prompts", json=prompt, headers={"Authorization": auth}
        )
        assert stored.status_code == 201, stored.text
        served = stack.processor.client.get(
            "/api/public/v2/prompts/scale%2Fgreet", headers={"Authorization": auth}
        )
        assert served.status_code == 200 and served.json()["id"] == stored.json()["id"]

        exporter = OTLPSpanExporter(
            endpoint=stack.receiver.grpc_target, insecure=True, headers={"authorization": auth}
        )
        with provider_for(exporter, "scaleout-pg") as provider:
            trace_id = emit_agent_trace(provider, user_id="pg-user")
        trace = _wait_for_trace(stack.processor, trace_id, auth)
        assert trace["userId"] == "pg-user"
        chat = next(o for o in trace["observations"] if o["type"] == "GENERATION")
        assert chat["modelId"] == created.json()["id"]
        assert Decimal(str(chat["costDetails"]["total"])) == Decimal("1.3")  # 900 x 0.001 + 0.4

        wrong = basic_auth(key["publicKey"], "sk-lf-wrong")
        refused = stack.receiver.client.post(
            "/v1/traces",
            content=b"",
            headers={"Authorization": wrong, "Content-Type": "application/x-protobuf"},
        )
        assert refused.status_code == 401
        for service in (stack.receiver, stack.processor):
            assert key["secretKey"] not in service.log()
    finally:
        stop_stack(stack)
