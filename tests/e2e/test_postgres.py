"""``otelfuse run`` with PostgreSQL: isolation, revocation, secrets, hostile input, custom model
prices and prompt links, end to end with real clients. Every test runs twice: with
``OTELFUSE_POSTGRES_URL`` (a PostgreSQL server) and without it (the embedded PostgreSQL in the
data folder, which the CLI commands reach through ``OTELFUSE_DATA_DIR``).

Projects ``proj-a`` and ``proj-b`` and their keys are created with the CLI before the service
starts (the settings' initial project is created in PostgreSQL by the service itself); the
auth and model caches are set to 1 s so new definitions apply quickly (a revocation applies at
once: ``otelfuse keys revoke`` notifies every process, storage.postgres.keystore).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GRPCExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HTTPExporter,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from storage.postgres.embedded import EMBEDDED_DIR, EmbeddedPostgres
from storage.postgres.pool import PgPool
from storage.postgres.prompts import PromptRepository
from tests.support.clients import run_client
from tests.support.otel import emit_agent_trace, provider_for
from tests.support.postgres import Postgres, cli_env, run_with_pool
from tests.support.service import Service, basic_auth, otelfuse_cli, start_service

AUTH_TTL_S = 1
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODEL_TTL_S = 1


@dataclass
class Keys:
    project: str
    public: str
    secret: str

    @property
    def auth(self) -> str:
        return basic_auth(self.public, self.secret)


@dataclass
class Stack:
    service: Service
    url: str
    env: dict[str, str]
    a: Keys
    b: Keys
    secrets: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    """Every response body and header block, searched for secrets at the end."""

    def request(self, method: str, path: str, keys: Keys | str | None, **kw: Any) -> httpx.Response:
        auth = keys.auth if isinstance(keys, Keys) else keys
        headers = {**kw.pop("headers", {}), **({"Authorization": auth} if auth else {})}
        response = self.service.client.request(method, path, headers=headers, **kw)
        self.seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response

    def get(self, path: str, keys: Keys | str | None, **kw: Any) -> httpx.Response:
        return self.request("GET", path, keys, **kw)

    def json(self, path: str, keys: Keys, **kw: Any) -> Any:
        response = self.get(path, keys, **kw)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def cli(self, *args: str) -> str:
        result = otelfuse_cli(list(args), self.env)
        self.seen.append(result.stdout + result.stderr)
        return result.stdout

    def new_key(self, project: str) -> Keys:
        created = json.loads(
            otelfuse_cli(["keys", "create", "--project", project, "--json"], self.env).stdout
        )
        self.secrets.append(created["secretKey"])
        return Keys(project, created["publicKey"], created["secretKey"])


@pytest.fixture(scope="module", params=["server", "embedded"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data = Path(tmp_path_factory.mktemp("pg-service"))
    if request.param == "server":
        postgres_server: Postgres = request.getfixturevalue("postgres_server")
        url = postgres_server.create_database("e2e")
    else:
        url = ""
    env = cli_env(url, data)
    otelfuse_cli(["migrate"], env)
    otelfuse_cli(["projects", "create", "--name", "Team A", "--id", "proj-a"], env)
    otelfuse_cli(["projects", "create", "--name", "Team B", "--id", "proj-b"], env)
    provisional = Stack(None, url, env, Keys("", "", ""), Keys("", "", ""))  # type: ignore[arg-type]
    a, b = provisional.new_key("proj-a"), provisional.new_key("proj-b")
    service = start_service(
        data,
        {
            "OTELFUSE_POSTGRES_URL": url,
            "OTELFUSE_AUTH_CACHE_TTL_S": str(AUTH_TTL_S),
            "OTELFUSE_MODEL_CACHE_TTL_S": str(MODEL_TTL_S),
            "OTELFUSE_LOG_LEVEL": "DEBUG",
        },
    )
    if not url:  # the running service's embedded server, adopted (and left running) here
        url = EmbeddedPostgres.start(data / EMBEDDED_DIR, owner=False).url
    stack = Stack(service, url, env, a, b, secrets=[*provisional.secrets, service.secret_key])
    yield stack
    code = service.stop()
    assert code == 0, service.log()


def _http_exporter(stack: Stack, keys: Keys) -> HTTPExporter:
    return HTTPExporter(
        endpoint=f"{stack.service.http_url}/v1/traces", headers={"Authorization": keys.auth}
    )


def _generation(
    provider: TracerProvider,
    model: str,
    usage: tuple[int, int] = (1000, 200),
    *,
    start: datetime | None = None,
    attributes: dict[str, Any] | None = None,
) -> str:
    """One GenAI chat span; returns its trace id (hex)."""
    tracer = provider.get_tracer("pg-e2e")
    start_ns = int(start.timestamp() * 1e9) if start else None
    span = tracer.start_span(f"chat {model}", start_time=start_ns)
    span.set_attribute("gen_ai.operation.name", "chat")
    span.set_attribute("gen_ai.request.model", model)
    span.set_attribute("gen_ai.usage.input_tokens", usage[0])
    span.set_attribute("gen_ai.usage.output_tokens", usage[1])
    for key, value in (attributes or {}).items():
        span.set_attribute(key, value)
    span.end(end_time=start_ns + 1_000_000 if start_ns else None)
    return format(span.get_span_context().trace_id, "032x")


def _export_generation(stack: Stack, keys: Keys, model: str, **kw: Any) -> dict[str, Any]:
    """Export one generation with ``keys`` and read it back with the same keys."""
    with provider_for(_http_exporter(stack, keys), "pg-e2e") as provider:
        trace_id = _generation(provider, model, **kw)
    trace = stack.json(f"/api/public/traces/{trace_id}", keys)
    (observation,) = trace["observations"]
    return observation  # type: ignore[no-any-return]


def _cost(observation: dict[str, Any]) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in observation["costDetails"].items()}


# -- isolation --------------------------------------------------------------------------------


def test_each_key_sees_its_own_project(stack: Stack) -> None:
    assert stack.json("/api/public/projects", stack.a)["data"][0]["id"] == "proj-a"
    assert stack.json("/api/public/projects", stack.b)["data"][0]["id"] == "proj-b"
    init = Keys(stack.service.project_id, stack.service.public_key, stack.service.secret_key)
    assert stack.json("/api/public/projects", init)["data"][0]["id"] == "proj-test"


def test_a_key_of_project_b_cannot_read_or_change_project_a_data(stack: Stack) -> None:
    a, b = stack.a, stack.b
    with provider_for(_http_exporter(stack, a), "svc-a") as provider:
        trace_id = emit_agent_trace(provider, user_id="user-a")
    trace = stack.json(f"/api/public/traces/{trace_id}", a)
    observation_ids = [o["id"] for o in trace["observations"]]
    assert len(observation_ids) == 3
    score = stack.request(
        "POST", "/api/public/scores", a, json={"traceId": trace_id, "name": "quality", "value": 1}
    )
    assert score.status_code == 200, score.text
    score_id = score.json()["id"]

    # reads by id: 404; lists: nothing of A's
    assert stack.get(f"/api/public/traces/{trace_id}", b).status_code == 404
    for observation_id in observation_ids:
        assert stack.get(f"/api/public/observations/{observation_id}", b).status_code == 404
    assert stack.get("/api/public/sessions/session-e2e", b).status_code == 404
    assert stack.get(f"/api/public/v2/scores/{score_id}", b).status_code == 404
    for path, params in [
        ("/api/public/traces", {}),
        ("/api/public/traces", {"userId": "user-a"}),
        ("/api/public/observations", {"traceId": trace_id}),
        ("/api/public/observations", {}),
        ("/api/public/v2/observations", {"traceId": trace_id}),
        ("/api/public/sessions", {}),
        ("/api/public/v2/scores", {"traceId": trace_id}),
        ("/api/public/v3/scores", {"traceId": trace_id}),
    ]:
        data = stack.json(path, b, params=params)["data"]
        assert not any(trace_id in json.dumps(item) for item in data), (path, data)
    daily = stack.json("/api/public/metrics/daily", b)["data"]
    assert all(day["countTraces"] == 0 for day in daily), daily

    # writes with B's key land in B's project only, even with A's ids
    raw = {
        "resourceSpans": [
            {
                "resource": {},
                "scopeSpans": [
                    {
                        "scope": {"name": "evil"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": observation_ids[0][-16:],
                                "name": "overwritten-by-b",
                                "kind": 1,
                                "startTimeUnixNano": str(time.time_ns()),
                                "endTimeUnixNano": str(time.time_ns()),
                            }
                        ],
                    }
                ],
            }
        ]
    }
    assert stack.request("POST", "/v1/traces", b, json=raw).status_code == 200
    own = stack.json(f"/api/public/observations/{observation_ids[0]}", b)
    assert (own["name"], own["projectId"]) == ("overwritten-by-b", "proj-b")
    ingestion = stack.request(
        "POST",
        "/api/public/ingestion",
        b,
        json={
            "batch": [
                {
                    "id": "evt-1",
                    "type": "span-update",
                    "timestamp": datetime.now(UTC).isoformat(),
                    "body": {"id": observation_ids[1], "traceId": trace_id, "name": "renamed-by-b"},
                }
            ]
        },
    )
    assert ingestion.status_code == 207, ingestion.text
    stack.request("DELETE", f"/api/public/traces/{trace_id}", b)
    stack.request("DELETE", "/api/public/traces", b, json={"traceIds": [trace_id]})
    time.sleep(0.5)
    again = stack.json(f"/api/public/traces/{trace_id}", a)
    assert sorted(o["name"] for o in again["observations"]) == sorted(
        o["name"] for o in trace["observations"]
    )
    assert stack.json(f"/api/public/v2/scores/{score_id}", a)["id"] == score_id


def test_models_api_is_project_scoped(stack: Stack) -> None:
    a, b = stack.a, stack.b
    body = {
        "modelName": "acme-private",
        "matchPattern": "^acme-private$",
        "unit": "TOKENS",
        "inputPrice": 0.5,
    }
    created = stack.request("POST", "/api/public/models", a, json=body)
    assert created.status_code == 200, created.text
    model_id = created.json()["id"]
    assert stack.json(f"/api/public/models/{model_id}", a)["modelName"] == "acme-private"
    assert stack.get(f"/api/public/models/{model_id}", b).status_code == 404
    assert stack.request("DELETE", f"/api/public/models/{model_id}", b).status_code == 404
    put = stack.request("PUT", f"/api/public/models/{model_id}", b, json=body)
    assert put.status_code == 409
    assert model_id not in json.dumps(stack.json("/api/public/models", b))
    assert stack.json(f"/api/public/models/{model_id}", a)["inputPrice"] == 0.5
    dup = stack.request("POST", "/api/public/models", a, json=body)
    assert dup.status_code == 409
    assert stack.request("DELETE", f"/api/public/models/{model_id}", a).status_code == 200
    assert stack.get(f"/api/public/models/{model_id}", a).status_code == 404


def test_global_models_are_readable_but_not_deletable(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "global.json"
    path.write_text(
        json.dumps(
            {"modelName": "acme-shared", "matchPattern": "^acme-shared$", "totalPrice": 0.001}
        )
    )
    stack.cli("models", "upsert", "--file", str(path))
    listed = stack.json("/api/public/models", stack.b)["data"]
    (shared,) = [m for m in listed if m["modelName"] == "acme-shared"]
    assert shared["isLangfuseManaged"] is True
    assert stack.json(f"/api/public/models/{shared['id']}", stack.a)["id"] == shared["id"]
    assert stack.request("DELETE", f"/api/public/models/{shared['id']}", stack.a).status_code == 403


def test_langfuse_sdk_models_client(stack: Stack) -> None:
    from langfuse.api.client import LangfuseAPI

    api = LangfuseAPI(
        base_url=stack.service.http_url, username=stack.a.public, password=stack.a.secret
    )
    model = api.models.create(
        model_name="acme-sdk",
        match_pattern="(?i)^acme-sdk$",
        unit="TOKENS",
        pricing_tiers=[
            {
                "name": "Standard",
                "isDefault": True,
                "priority": 0,
                "conditions": [],
                "prices": {"input": 1e-6, "output": 2e-6},
            }
        ],
    )
    assert model.pricing_tiers[0].prices == {"input": 1e-6, "output": 2e-6}
    assert api.models.get(model.id).model_name == "acme-sdk"
    assert any(m.id == model.id for m in api.models.list(limit=100).data)
    api.models.delete(model.id)


# -- credentials ------------------------------------------------------------------------------


def test_wrong_and_unknown_credentials_are_refused_everywhere(stack: Stack) -> None:
    wrong = Keys("proj-a", stack.a.public, stack.a.secret + "x")
    unknown = Keys("proj-a", "pk-lf-unknown", stack.a.secret)
    for keys in (wrong, unknown):
        assert stack.get("/api/public/traces", keys).status_code == 401
        assert stack.get("/api/public/models", keys).status_code == 401
        response = stack.request(
            "POST",
            "/v1/traces",
            keys,
            content=b"",
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 401
        score = stack.request("POST", "/api/public/scores", keys, json={"name": "x", "value": 1})
        assert score.status_code == 401
    channel = grpc.insecure_channel(stack.service.grpc_target)
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
    with pytest.raises(grpc.RpcError) as refused:
        stub.Export(
            trace_service_pb2.ExportTraceServiceRequest(), metadata=[("authorization", wrong.auth)]
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel.close()


def test_new_keys_work_at_once_and_revoked_keys_are_refused_at_once(stack: Stack) -> None:
    """``keys revoke`` notifies every process of the service (PostgreSQL NOTIFY; with
    ``OTELFUSE_WORKERS=2`` the owner and both workers, tests/e2e/test_workers.py checks that
    with an auth cache TTL of an hour): every surface refuses the key within a second."""
    key = stack.new_key("proj-a")
    assert stack.get("/api/public/traces", key).status_code == 200  # created after start
    with provider_for(
        GRPCExporter(
            endpoint=stack.service.grpc_target, insecure=True, headers={"authorization": key.auth}
        ),
        "rev",
    ) as provider:
        emit_agent_trace(provider, user_id="before-revoke")
    stack.cli("keys", "revoke", key.public)
    revoked_at = time.monotonic()
    while stack.get("/api/public/traces", key).status_code == 200:
        assert time.monotonic() - revoked_at < 1, "revoked key still accepted"
        time.sleep(0.1)
    assert stack.get("/api/public/models", key).status_code == 401
    response = stack.request(
        "POST", "/v1/traces", key, content=b"", headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 401
    listed = json.loads(stack.cli("keys", "list", "--project", "proj-a", "--json"))
    (entry,) = [k for k in listed if k["publicKey"] == key.public]
    assert entry["revokedAt"] is not None and entry["lastUsedAt"] is not None


# -- hostile input ----------------------------------------------------------------------------

HOSTILE_IDS = [
    "' OR '1'='1",
    "%00",
    "a%00b",
    "..%2F..%2Fetc",
    "x" * 5000,
    "\u202e\U0001f642",
    "1;DROP TABLE observations",
    "%C0%AF",
    "null",
    "-1",
]
HOSTILE_FILTERS = [
    "not json",
    "{}",
    "[1]",
    '[{"type":"string"}]',
    "[" * 5000 + "]" * 5000,
    json.dumps([{"type": "string", "column": "name", "operator": "=", "value": "x' OR 1=1 --"}]),
    json.dumps(
        [
            {
                "type": "string",
                "column": "name); DROP TABLE traces; --",
                "operator": "=",
                "value": "x",
            }
        ]
    ),
    json.dumps(
        [
            {
                "type": "stringObject",
                "column": "metadata",
                "key": "a') OR 1=1 --",
                "operator": "=",
                "value": "x",
            }
        ]
    ),
    json.dumps([{"type": "number", "column": "latency", "operator": ">", "value": "1e999"}]),
    json.dumps(
        [{"type": "datetime", "column": "timestamp", "operator": ">", "value": "99999-99-99"}]
    ),
    json.dumps([{"type": "string", "column": "name", "operator": "=", "value": "a\u0000b"}]),
    json.dumps([{"type": "string", "column": "name", "operator": "=", "value": "x" * 20_000}]),
]
HOSTILE_PARAMS: list[dict[str, str]] = [
    {"page": "-1"},
    {"page": "abc"},
    {"page": "9" * 40},
    {"limit": "0"},
    {"limit": "1e9"},
    {"limit": "101"},
    {"fromTimestamp": "garbage"},
    {"toTimestamp": "99999-01-01T00:00:00Z"},
    {"orderBy": "timestamp;DROP"},
    {"orderBy": "name.sideways"},
    {"userId": "a\u0000b"},
    {"environment": "' OR 1=1"},
    {"type": "EVIL"},
    {"level": "' OR ''='"},
    {"fields": "core,../../etc"},
    {"cursor": "!!!"},
    {"cursor": base64.b64encode(b"{").decode()},
    {"query": "not json"},
    {"query": json.dumps({"view": "evil", "metrics": []})},
    {"value": "abc"},
    {"operator": ";DROP"},
    {"scoreIds": "'"},
]


def test_hostile_values_fail_safely(stack: Stack) -> None:
    a = stack.a
    statuses: list[tuple[str, int]] = []

    def check(method: str, path: str, **kw: Any) -> None:
        response = stack.request(method, path, a, **kw)
        statuses.append((f"{method} {path} {kw}"[:300], response.status_code))

    for list_path in (
        "/api/public/traces",
        "/api/public/observations",
        "/api/public/sessions",
        "/api/public/v2/observations",
        "/api/public/v2/scores",
        "/api/public/v3/scores",
        "/api/public/metrics",
        "/api/public/v2/metrics",
        "/api/public/metrics/daily",
        "/api/public/models",
    ):
        for flt in HOSTILE_FILTERS:
            check("GET", list_path, params={"filter": flt})
        for params in HOSTILE_PARAMS:
            check("GET", list_path, params=params)
    for hostile in HOSTILE_IDS:
        for item_path in (
            "/api/public/traces/",
            "/api/public/observations/",
            "/api/public/sessions/",
            "/api/public/v2/scores/",
            "/api/public/models/",
        ):
            check("GET", item_path + hostile)
        check("DELETE", "/api/public/models/" + hostile)
        check(
            "PUT", "/api/public/models/" + hostile, json={"modelName": "x", "matchPattern": "^x$"}
        )
    for body in [
        b"not json",
        b"[]",
        b"{}",
        b'{"modelName": 123, "matchPattern": "x"}',
        b'{"modelName": "x", "matchPattern": "(("}',
        b'{"modelName": "x", "matchPattern": "x", "inputPrice": NaN}',
        b'{"modelName": "x", "matchPattern": "x", "inputPrice": 1e999}',
        b'{"modelName": "x", "matchPattern": "x", "inputPrice": 99999999999999999}',
        b'{"modelName": "x\\u0000", "matchPattern": "x"}',
        b'{"modelName": "x", "matchPattern": "x", "tokenizerConfig": {"a": "\\u0000"}}',
        b'{"modelName": "x", "matchPattern": "x", "startDate": "0001-01-01"}',
        b'{"modelName": "x", "matchPattern": "x", "unit": "\' OR 1=1"}',
        b"[" * 100_000 + b"]" * 100_000,
    ]:
        check(
            "POST", "/api/public/models", content=body, headers={"Content-Type": "application/json"}
        )
    check("POST", "/api/public/models", content=b"{" * 2_000_000)  # over the body limit
    for authorization in [
        "Basic " + base64.b64encode(b"pk\x00:sk").decode(),
        "Basic " + base64.b64encode(b"x" * 100_000 + b":y").decode(),
        "Basic !!!",
        "Bearer x",
        "Basic " + base64.b64encode(b":").decode(),
    ]:
        response = stack.get("/api/public/models", authorization)
        statuses.append((f"auth {authorization[:40]}", response.status_code))
        try:
            response = stack.request(
                "POST",
                "/v1/traces",
                authorization,
                content=b"x",
                headers={"Content-Type": "application/x-protobuf"},
            )
        except httpx.TransportError:
            # A header block over h11's limit (the 100 KB one) makes the server answer 431 and
            # close; while the client still sends its body that can reach it as a reset
            # instead. Either way the request is refused; the process must stay up:
            assert stack.get("/api/public/health", None).status_code == 200
            statuses.append((f"otlp auth {authorization[:40]}", 431))
            continue
        statuses.append((f"otlp auth {authorization[:40]}", response.status_code))

    errors = [(what, status) for what, status in statuses if status >= 500]
    assert not errors, errors
    assert {status for _, status in statuses} <= {200, 207, 400, 401, 403, 404, 409, 413, 431}


# -- prices and prompts -----------------------------------------------------------------------


def test_custom_price_beats_the_catalog(stack: Stack) -> None:
    body = {
        "modelName": "gpt-4o",
        "matchPattern": "(?i)^(openai/)?(gpt-4o)$",
        "unit": "TOKENS",
        "inputPrice": 0.001,
        "outputPrice": 0.002,
    }
    model = stack.request("POST", "/api/public/models", stack.a, json=body).json()
    time.sleep(MODEL_TTL_S + 0.5)  # earlier gpt-4o spans of project A cached "no definition"
    custom = _export_generation(stack, stack.a, "gpt-4o", usage=(1000, 200))
    assert custom["modelId"] == model["id"]
    assert custom["usagePricingTierName"] == "Standard"
    assert _cost(custom) == {
        "input": Decimal("1"),
        "output": Decimal("0.4"),
        "total": Decimal("1.4"),
    }
    catalog = _export_generation(stack, stack.b, "gpt-4o", usage=(1000, 200))
    assert catalog["modelId"].startswith("genai-prices:")
    assert _cost(catalog)["total"] == Decimal("0.0045")  # 2.5 and 10 USD per 1M tokens


def test_newest_start_date_not_after_the_observation_wins(stack: Stack) -> None:
    prices = {
        None: 1,
        "2024-01-01T00:00:00Z": 2,
        "2025-01-01T00:00:00Z": 3,
        "2099-01-01T00:00:00Z": 4,
    }
    ids = {}
    for start, price in prices.items():
        body = {
            "modelName": "acme-dated",
            "matchPattern": "^acme-dated$",
            "startDate": start,
            "pricingTiers": [
                {
                    "name": f"p{price}",
                    "isDefault": True,
                    "priority": 0,
                    "conditions": [],
                    "prices": {"input": price},
                }
            ],
        }
        response = stack.request("POST", "/api/public/models", stack.a, json=body)
        assert response.status_code == 200, response.text
        ids[price] = response.json()["id"]
    for observed_at, price in [
        (None, 3),
        (datetime(2024, 6, 1, tzinfo=UTC), 2),
        (datetime(2023, 6, 1, tzinfo=UTC), 1),
    ]:
        observation = _export_generation(
            stack, stack.a, "acme-dated", usage=(10, 0), start=observed_at
        )
        assert observation["modelId"] == ids[price], (observed_at, observation["modelId"])
        assert _cost(observation)["input"] == Decimal(10 * price)


def test_a_model_parameter_condition_selects_its_tier(stack: Stack) -> None:
    body = {
        "modelName": "acme-tiered",
        "matchPattern": "^acme-tiered$",
        "pricingTiers": [
            {
                "name": "Standard",
                "isDefault": True,
                "priority": 0,
                "conditions": [],
                "prices": {"input": 0.001, "output": 0.002},
            },
            {
                "name": "Priority",
                "priority": 1,
                "prices": {"input": 0.01, "output": 0.02},
                "conditions": [
                    {
                        "source": "model_parameters",
                        "key": "service_tier",
                        "operator": "in",
                        "values": ["priority"],
                    }
                ],
            },
            {
                "name": "Large context",
                "priority": 2,
                "prices": {"input": 0.003, "output": 0.004},
                "conditions": [{"usageDetailPattern": "input", "operator": "gt", "value": 100000}],
            },
        ],
    }
    assert stack.request("POST", "/api/public/models", stack.a, json=body).status_code == 200
    standard = _export_generation(stack, stack.a, "acme-tiered", usage=(100, 10))
    priority = _export_generation(
        stack,
        stack.a,
        "acme-tiered",
        usage=(100, 10),
        attributes={"gen_ai.request.service_tier": "priority"},
    )
    large = _export_generation(stack, stack.a, "acme-tiered", usage=(200_000, 10))
    assert standard["usagePricingTierName"] == "Standard"
    assert _cost(standard)["total"] == Decimal("0.12")
    assert priority["usagePricingTierName"] == "Priority"
    assert (
        priority["usagePricingTierId"]
        and priority["usagePricingTierId"] != standard["usagePricingTierId"]
    )
    assert _cost(priority)["total"] == Decimal("1.2")
    assert large["usagePricingTierName"] == "Large context"
    assert _cost(large)["total"] == Decimal("600.04")


def test_generations_naming_a_prompt_get_its_id(stack: Stack) -> None:
    async def create(pool: PgPool) -> str:
        return (await PromptRepository(pool).create("proj-a", "greeting", "Hello {{name}}")).id

    prompt_id = run_with_pool(stack.url, create)
    attributes = {
        "langfuse.observation.prompt.name": "greeting",
        "langfuse.observation.prompt.version": 1,
    }
    linked = _export_generation(stack, stack.a, "acme-prompted", attributes=attributes)
    assert (linked["promptName"], linked["promptVersion"], linked["promptId"]) == (
        "greeting",
        1,
        prompt_id,
    )
    other = _export_generation(stack, stack.b, "acme-prompted", attributes=attributes)
    assert other["promptName"] == "greeting" and other["promptId"] is None


def test_langfuse_sdk_manages_prompts_and_links_generations(stack: Stack) -> None:
    env = {
        "LANGFUSE_BASE_URL": stack.service.http_url,
        "LANGFUSE_PUBLIC_KEY": stack.a.public,
        "LANGFUSE_SECRET_KEY": stack.a.secret,
    }
    out = run_client("langfuse_prompts", "sdk ✓", env=env)
    assert out["created"] == [
        [1, ["production", "latest"], [], {"temperature": 0.3}, "first"],
        [2, ["latest"], ["sdk"], {}, None],
        [1, ["production", "latest"], [], {}, None],
    ]
    assert out["production"] == [1, "Hello Ada"]
    assert out["by_version"] == [2, "Hi Ada!"]
    assert out["latest"] == 2
    assert out["updated"] == [2, ["production", "latest"]]
    assert out["moved"] == [2, ["production", "latest"], False]
    assert out["chat"] == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "ahoy"},
        {"role": "user", "content": "Where?"},
    ]
    assert out["chat_raw"][1] == {"type": "placeholder", "name": "history"}
    assert out["missing"].startswith("404 ") and "sdk ✓/missing" in out["missing"]

    name = quote("sdk ✓/greeting", safe="")
    stored = stack.json(f"/api/public/v2/prompts/{name}", stack.a, params={"version": 2})
    assert stack.get(f"/api/public/v2/prompts/{name}", stack.b).status_code == 404
    trace = stack.json(f"/api/public/traces/{out['trace_id']}", stack.a)
    (generation,) = [o for o in trace["observations"] if o["id"] == out["observation_id"]]
    assert (generation["promptName"], generation["promptVersion"], generation["promptId"]) == (
        "sdk ✓/greeting",
        2,
        stored["id"],
    )


@pytest.mark.slow
def test_prompt_routes_conform_to_the_served_openapi_document(stack: Stack) -> None:
    """schemathesis: generated requests for every prompt operation of the running service's
    document get no server error and answers (statuses, bodies) that the document allows."""
    seed = {"name": "oa/seed", "prompt": "x", "labels": ["production"], "tags": ["t"]}
    assert stack.request("POST", "/api/public/v2/prompts", stack.a, json=seed).status_code == 201
    document = stack.get("/api/public/openapi.json", None).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=stack.service.http_url)
    headers = {"Authorization": stack.a.auth}
    operations = [
        (path, method)
        for path, item in document["paths"].items()
        if path.startswith("/api/public/v2/prompts")
        for method in item
    ]
    assert len(operations) == 5
    for path, method in operations:
        operation = schema[path][method.upper()]

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CONFORMANCE)

        check()


# -- last: nothing above leaked a secret ------------------------------------------------------


def test_secrets_never_appear_in_logs_or_responses(stack: Stack) -> None:
    a = stack.a
    stack.get("/api/public/traces", Keys("proj-a", a.public, a.secret + "x"))
    stack.get("/api/public/traces", "Basic " + base64.b64encode(a.secret.encode()).decode())
    stack.get("/api/public/traces", a.secret)
    stack.request(
        "POST",
        "/v1/traces",
        Keys("proj-a", "pk-x", a.secret),
        content=b"x",
        headers={"Content-Type": "application/x-protobuf"},
    )
    listed = stack.cli("keys", "list", "--project", "proj-a")
    assert a.public in listed
    assert len(stack.secrets) >= 4
    log = stack.service.log()
    assert "DEBUG" in log  # the strictest log level was on
    for secret in stack.secrets:
        assert secret not in log
        for seen in stack.seen:
            assert secret not in seen
