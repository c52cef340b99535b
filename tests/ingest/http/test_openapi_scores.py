"""The score routes' OpenAPI operations (``ingest.api.scores.OPERATIONS``) describe exactly the
routes served, reach the all-in-one document, and the running service conforms to them:
schemathesis generates requests for every GET route and checks statuses and bodies."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ingest.api import ingestion, scores
from ingest.api.ingestion import Ingestion
from ingest.api.scores import ScoreReads, ScoreWrites
from ingest.http.openapi import DocumentedRoute
from storage.auth import StaticKeyStore
from storage.query.scores.repository import ScoreRepository
from tests.support.fakes import FailingClient, RecordingSink
from tests.support.http import all_in_one_document
from tests.support.service import Service

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DOCUMENT = all_in_one_document()
OPERATIONS = [*scores.OPERATIONS.values(), ingestion.OPERATION]
GET_PATHS = sorted(op.path for op in OPERATIONS if op.method == "get")


def test_paths_are_the_served_routes() -> None:
    keys = StaticKeyStore([])
    sink = RecordingSink()
    unused = FailingClient(AssertionError("routes are built without storage"))
    routes = [
        *ScoreReads(ScoreRepository(unused), keys).routes(),
        *ScoreWrites(sink, keys, 1).routes(),
        *Ingestion(sink, sink, keys, 1).routes(),
    ]
    served = set()
    for route in routes:
        assert isinstance(route, DocumentedRoute)
        path = route.path.replace("{score_id}", "{scoreId}")
        assert path == route.operation.path
        served |= {(path, m.lower()) for m in route.methods or () if m != "HEAD"}
    documented = {(op.path, op.method) for op in OPERATIONS}
    assert documented == served
    for op in OPERATIONS:
        assert DOCUMENT["paths"][op.path][op.method] == op.item()


@pytest.fixture(scope="module")
def api_schema(service: Service) -> Any:
    body = [
        {"id": "oa-num", "traceId": "oa-trace", "name": "n", "value": 0.5, "metadata": {"a": 1}},
        {"id": "oa-bool", "traceId": "oa-trace", "observationId": "o", "name": "b", "value": 1,
         "dataType": "BOOLEAN", "comment": "c"},
        {"id": "oa-cat", "sessionId": "oa-session", "name": "c", "value": "red"},
        {"id": "oa-text", "datasetRunId": "oa-run", "name": "t", "value": "long text",
         "dataType": "TEXT"},
    ]  # fmt: skip
    response = service.client.post(
        "/api/public/scores", json=body, headers={"Authorization": service.authorization}
    )
    assert response.status_code == 202, response.text
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    schema.config.update(base_url=service.http_url)
    return schema


@pytest.mark.slow
@pytest.mark.parametrize("path", GET_PATHS)
def test_get_routes_conform(api_schema: Any, service: Service, path: str) -> None:
    operation = api_schema[path]["GET"]
    headers = {"Authorization": service.authorization}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def test_seeded_scores_conform(api_schema: Any, service: Service) -> None:
    """Every data type and subject kind, with all field groups, validates against the schema."""
    for path, params in (
        ("/api/public/v2/scores", {"limit": 100}),
        ("/api/public/v2/scores/oa-text", {}),
        ("/api/public/v3/scores", {"fields": "details,subject,annotation", "limit": 100}),
    ):
        response = service.get(path, params)
        assert response.status_code == 200, response.text
        template = path if "oa-text" not in path else "/api/public/v2/scores/{scoreId}"
        api_schema[template]["GET"].validate_response(response)
