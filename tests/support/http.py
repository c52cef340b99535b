"""Role apps for in-process HTTP tests: routes wrapped by the real app factory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from ingest.api.ingestion import Ingestion
from ingest.api.read import read_routes
from ingest.api.scores import ScoreWrites
from ingest.http.app import HealthCheck, create_app
from ingest.http.openapi import openapi_document
from ingest.otlp.export import TraceExport
from ingest.otlp.http_receiver import OTLPHTTPReceiver
from ingest.otlp.logs_export import LogsExport
from ingest.otlp.logs_http import OTLPHTTPLogsReceiver
from storage.auth import StaticKeyStore
from storage.query.repository import Repository
from tests.support.fakes import FailingClient, RecordingSink

__all__ = ["all_in_one_document", "all_in_one_routes", "receiver_routes", "test_client"]


async def _healthy() -> str | None:
    return None


def test_client(routes: Sequence[BaseRoute], health: HealthCheck = _healthy) -> TestClient:
    """A TestClient over ``create_app(routes, health)`` (by default health is always OK)."""
    return TestClient(create_app(routes, health))


test_client.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def receiver_routes() -> list[BaseRoute]:
    """The receiver role's routes (OTLP/HTTP, score and ingestion writes) over fakes."""
    keys = StaticKeyStore([])
    sink = RecordingSink()
    return [
        *OTLPHTTPReceiver(TraceExport(sink, keys, sink), 1).routes(),
        *OTLPHTTPLogsReceiver(LogsExport(TraceExport(sink, keys, sink), sink), 1).routes(),
        *ScoreWrites(sink, keys, 1).routes(),
        *Ingestion(sink, sink, keys, 1).routes(),
    ]


def all_in_one_routes() -> list[BaseRoute]:
    """The all-in-one role's routes without PostgreSQL (receiver routes and the read API),
    built over fakes: nothing is read or written."""
    unused = FailingClient(AssertionError("routes are built without storage"))
    read = read_routes(Repository(unused), StaticKeyStore([]), max_request_bytes=1)
    return [*receiver_routes(), *read]


def all_in_one_document() -> dict[str, Any]:
    """The OpenAPI document an all-in-one process without PostgreSQL serves."""
    app = create_app(all_in_one_routes(), _healthy)
    return openapi_document(app.routes)
