"""Role apps for in-process HTTP tests: routes wrapped by the real app factory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from ingest.api.ingestion import Ingestion
from ingest.api.models import Models
from ingest.api.prompts import Prompts
from ingest.api.read import read_routes
from ingest.api.scores import ScoreWrites
from ingest.http.app import HealthCheck, create_app
from ingest.http.openapi import openapi_document
from ingest.otlp.export import TraceExport
from ingest.otlp.http_receiver import OTLPHTTPReceiver
from ingest.otlp.logs_export import LogsExport
from ingest.otlp.logs_http import OTLPHTTPLogsReceiver
from storage.auth import StaticKeyStore
from storage.postgres.models import ModelRepository
from storage.postgres.prompts import PromptRepository
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
    """The all-in-one role's routes (receiver routes, the read API, and the PostgreSQL ones
    every all-in-one serves: ``/api/public/models`` and ``/api/public/v2/prompts``), built over
    fakes: nothing is read or written. The media routes, whose set depends on the blob store,
    are left out (``tests/ingest/api/test_media_routes.py``)."""
    unused = FailingClient(AssertionError("routes are built without storage"))
    keys = StaticKeyStore([])
    read = read_routes(Repository(unused), keys, max_request_bytes=1)
    no_pool: Any = None  # the repositories are never called
    metadata = [
        *Models(ModelRepository(no_pool), keys).routes(),
        *Prompts(PromptRepository(no_pool), keys, 1).routes(),
    ]
    return [*receiver_routes(), *read, *metadata]


def all_in_one_document() -> dict[str, Any]:
    """The OpenAPI document an all-in-one process serves (without the media routes)."""
    app = create_app(all_in_one_routes(), _healthy)
    return openapi_document(app.routes)
