"""The OpenAPI document (``GET /api/public/openapi.json``) matches the server.

1. In process: the document a role's app serves (``ingest.http.openapi``) describes exactly its
   routes (all-in-one: OTLP receiver, read API, score and ingestion writes, health, OpenAPI,
   Prometheus ``/metrics``; the receiver role only what it serves), and the extension point
   merges extra path items (how the scores API documents itself).
2. Against a running ``otelfuse run`` seeded over OTLP/HTTP: schemathesis generates requests
   for every GET route under ``/api/public`` and checks that none is a server error and that
   status codes, content types and bodies conform to the document.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import BaseRoute, Route

from ingest.http import openapi as served_openapi
from ingest.http.openapi import OPENAPI_PATH, DocumentedRoute, Operation, openapi_document
from storage.query.observations_v2 import FIELD_GROUPS
from tests.support.http import (
    all_in_one_document,
    all_in_one_routes,
    receiver_routes,
    test_client,
)
from tests.support.otel import emit_agent_trace, provider_for
from tests.support.service import Service, start_service

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 20
"""Generated requests per operation (keeps the module under a minute)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _operations(routes: list[BaseRoute]) -> set[tuple[str, str]]:
    operations = set()
    for route in routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {name:path} is {name}
        for name in ("trace_id", "observation_id", "session_id", "score_id", "prompt_name"):
            head, tail = name.split("_")
            path = path.replace("{" + name + "}", "{" + head + tail.capitalize() + "}")
        operations |= {(path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return operations


def _documented(routes: list[BaseRoute]) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    app = test_client(routes)
    document = app.get(OPENAPI_PATH).json()
    pairs = {(path, method) for path, item in document["paths"].items() for method in item}
    return document, pairs


def test_all_in_one_document_describes_exactly_the_served_routes() -> None:
    routes = all_in_one_routes()
    document, documented = _documented(routes)
    app_routes = list(test_client(routes).app.routes)  # type: ignore[attr-defined]
    assert documented == _operations(app_routes)
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["basicAuth"] == {
        "type": "http",
        "scheme": "basic",
        "description": "public key : secret key",
    }
    # health, the document itself and Prometheus need no credentials; everything else does
    open_paths = {
        path
        for path, item in document["paths"].items()
        for op in item.values()
        if op.get("security") == []
    }
    assert open_paths == {"/api/public/health", OPENAPI_PATH, "/metrics"}
    # every all-in-one has PostgreSQL: models and prompts are described with their schemas
    paths = document["paths"]
    assert set(paths["/api/public/models"]) == {"get", "post"}
    assert set(paths["/api/public/models/{id}"]) == {"get", "put", "delete"}
    assert set(paths["/api/public/v2/prompts"]) == {"get", "post"}
    assert set(paths["/api/public/v2/prompts/{promptName}"]) == {"get", "delete"}
    assert set(paths["/api/public/v2/prompts/{name}/versions/{version}"]) == {"patch"}
    components = document["components"]["schemas"]
    for name in ("Model", "Models", "PricingTier", "ModelPrice", "Prompt", "PromptMetaList"):
        assert components[name]["type"] == "object", name

    def response_ref(path: str, method: str, status: str) -> str:
        ref: str = paths[path][method]["responses"][status]["content"]["application/json"][
            "schema"
        ]["$ref"]
        return ref

    assert response_ref("/api/public/models", "get", "200").endswith("/Models")
    assert response_ref("/api/public/models/{id}", "put", "200").endswith("/Model")
    assert response_ref("/api/public/v2/prompts", "post", "201").endswith("/Prompt")
    assert paths["/api/public/models"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]["required"] == ["modelName", "matchPattern"]


def test_receiver_documents_only_what_it_serves() -> None:
    _, documented = _documented(receiver_routes())
    assert ("/api/public/traces", "get") not in documented
    assert ("/api/public/scores", "post") in documented
    assert ("/v1/traces", "post") in documented
    assert documented == _operations(
        list(test_client(receiver_routes()).app.routes)  # type: ignore[attr-defined]
    )
    assert served_openapi.OPENAPI_PATH == OPENAPI_PATH


def test_undocumented_routes_are_left_out_and_clashes_refused() -> None:
    async def endpoint(request: Any) -> Any:
        raise AssertionError("not called")

    plain = Route("/internal", endpoint, methods=["GET"])
    operation = Operation("get", "/x", "x", {"200": ({"type": "object"}, "ok")})
    document = openapi_document([plain, DocumentedRoute("/x", endpoint, operation)])
    assert list(document["paths"]) == ["/x"]
    with pytest.raises(ValueError, match="GET /x is already described"):
        openapi_document([DocumentedRoute("/x", endpoint, operation)] * 2)
    first = Operation("get", "/a", "a", {}, schemas={"Req": {"type": "object"}})
    second = Operation("get", "/b", "b", {}, schemas={"Req": {"type": "array"}})
    with pytest.raises(ValueError, match="component schema Req is defined twice"):
        openapi_document(
            [DocumentedRoute("/a", endpoint, first), DocumentedRoute("/b", endpoint, second)]
        )


# ---- schemathesis against a running service ----------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """Ids of the data the running service holds (for explicit cases with real ids)."""

    service: Service
    trace_id: str
    observation_id: str
    session_id: str
    model_id: str
    prompt_name: str


def _wait_for_traces(service: Service, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        response = service.get("/api/public/traces")
        traces: list[dict[str, Any]] = response.json()["data"] if response.is_success else []
        if len(traces) >= count:
            return traces
        if time.monotonic() > deadline:
            raise AssertionError(f"traces not visible after {timeout}s: {response.text}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def seeded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """``otelfuse run`` with three agent traces (one failing) sent over OTLP/HTTP, a custom
    model definition and a prompt (its embedded PostgreSQL)."""
    service = start_service(Path(tmp_path_factory.mktemp("openapi")))
    try:
        exporter = OTLPSpanExporter(
            endpoint=f"{service.http_url}/v1/traces",
            headers={"Authorization": service.authorization},
        )
        with provider_for(exporter, "openapi-seed") as provider:
            for n, user in enumerate(("alice", "bob", "alice")):
                emit_agent_trace(provider, user_id=user, fail_tool=n == 1)
        traces = _wait_for_traces(service, 3)
        trace_id = traces[0]["id"]
        observation_id = traces[0]["observations"][0]
        model = {
            "modelName": "oa-model",
            "matchPattern": "(?i)^oa-model$",
            "tokenizerConfig": {"big": 1e20},
            "pricingTiers": [
                {
                    "name": "Standard",
                    "isDefault": True,
                    "priority": 0,
                    "conditions": [],
                    "prices": {"input": 0.001},
                },
                {
                    "name": "Long",
                    "priority": 1,
                    "conditions": [
                        {"usageDetailPattern": "input", "operator": "gt", "value": 1000}
                    ],
                    "prices": {"input": 0.002},
                },
            ],
        }
        auth = {"Authorization": service.authorization}
        created = service.client.post("/api/public/models", json=model, headers=auth)
        assert created.status_code == 200, created.text
        prompt = {"name": "oa/seed", "prompt": "Hi {{name}}", "labels": ["production"]}
        stored = service.client.post("/api/public/v2/prompts", json=prompt, headers=auth)
        assert stored.status_code == 201, stored.text
        yield Seeded(
            service, trace_id, observation_id, "session-e2e", created.json()["id"], "oa/seed"
        )
    finally:
        code = service.stop()
    assert code == 0, service.log()


@pytest.fixture(scope="module")
def api_schema(seeded_service: Seeded) -> Any:
    """The document as served by the running service, bound to its base URL."""
    url = seeded_service.service.http_url
    document = httpx.get(f"{url}{OPENAPI_PATH}", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=url)
    return schema


# One test per GET operation under /api/public, listed from the in-process document (the served
# one is compared with it below); the score reads have their own module (test_openapi_scores).
# schemathesis' lazy ``from_fixture`` loader does not work with pytest 9 (it sets
# ``node._nodeid``), so the cases are drawn with hypothesis directly.
GET_PATHS = sorted(
    path
    for path, item in all_in_one_document()["paths"].items()
    if path.startswith("/api/public/") and "get" in item and "/scores" not in path
)

_WINDOW = {"fromTimestamp": "2000-01-01T00:00:00Z", "toTimestamp": "2200-01-01T00:00:00Z"}


def _metrics_query(view: str, *metrics: tuple[str, str], **extra: Any) -> dict[str, str]:
    body = {
        "view": view,
        "metrics": [{"measure": m, "aggregation": a} for m, a in metrics],
        **_WINDOW,
        **extra,
    }
    return {"query": json.dumps(body)}


def _explicit_cases(path: str, seeded: Seeded) -> list[dict[str, Any]]:
    """Valid requests that must answer 200 (or 404 for an unknown id) and conform."""
    filter_ = json.dumps(
        [{"type": "stringOptions", "column": "type", "operator": "any of", "value": ["GENERATION"]}]
    )
    trace_filter = json.dumps(
        [{"type": "string", "column": "name", "operator": "=", "value": "agent-run"}]
    )
    cases: dict[str, list[dict[str, Any]]] = {
        "/api/public/traces/{traceId}": [
            {"path_parameters": {"traceId": seeded.trace_id}},
            {"path_parameters": {"traceId": "unknown"}},
        ],
        "/api/public/observations/{observationId}": [
            {"path_parameters": {"observationId": seeded.observation_id}}
        ],
        "/api/public/sessions/{sessionId}": [{"path_parameters": {"sessionId": seeded.session_id}}],
        "/api/public/models/{id}": [
            {"path_parameters": {"id": seeded.model_id}},
            {"path_parameters": {"id": "unknown"}},
        ],
        "/api/public/v2/prompts/{promptName}": [
            {"path_parameters": {"promptName": seeded.prompt_name}},
            {"path_parameters": {"promptName": seeded.prompt_name}, "query": {"version": 1}},
        ],
        "/api/public/v2/prompts": [{"query": {"name": seeded.prompt_name}}],
        "/api/public/traces": [{"query": {"filter": trace_filter}}],
        "/api/public/observations": [{"query": {"filter": filter_}}],
        "/api/public/v2/observations": [
            {"query": {"fields": ",".join(FIELD_GROUPS), "limit": 1}},
            {"query": {"filter": filter_, "fields": "core,usage,model"}},
        ],
        "/api/public/metrics": [
            {
                "query": _metrics_query(
                    "traces",
                    ("count", "count"),
                    ("latency", "p95"),
                    dimensions=[{"field": "userId"}],
                )
            },
            {
                "query": _metrics_query(
                    "observations",
                    ("totalCost", "sum"),
                    ("latency", "histogram"),
                    timeDimension={"granularity": "auto"},
                )
            },
            {"query": _metrics_query("scores-numeric", ("value", "avg"))},
        ],
        "/api/public/v2/metrics": [
            {
                "query": _metrics_query(
                    "observations",
                    ("totalTokens", "sum"),
                    dimensions=[{"field": "providedModelName"}],
                )
            },
            {
                "query": _metrics_query(
                    "scores-categorical", ("count", "count"), dimensions=[{"field": "stringValue"}]
                )
            },
        ],
    }
    return cases.get(path, [{}])


@pytest.mark.parametrize("path", GET_PATHS)
def test_get_routes_conform_to_the_document(
    api_schema: Any, seeded_service: Seeded, path: str
) -> None:
    operation = api_schema[path]["GET"]
    headers = {"Authorization": seeded_service.service.authorization}

    for explicit in _explicit_cases(path, seeded_service):
        case = operation.Case(**explicit)
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        assert response.status_code in (200, 404), (explicit, response.text)
        if "unknown" not in str(explicit):
            assert response.status_code == 200, (explicit, response.text)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()


def test_served_document_contains_the_in_process_one(seeded_service: Seeded) -> None:
    """No credentials needed; every operation of the in-process all-in-one document is served
    as is."""
    response = httpx.get(f"{seeded_service.service.http_url}{OPENAPI_PATH}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served, expected = response.json(), all_in_one_document()
    assert served["openapi"] == "3.1.0"
    for path, item in expected["paths"].items():
        for method, operation in item.items():
            assert served["paths"][path][method] == operation, (method, path)
    for name, schema_ in expected["components"]["schemas"].items():
        assert served["components"]["schemas"][name] == schema_, name
