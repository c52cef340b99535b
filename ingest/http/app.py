"""The Starlette app every role serves: its routes, plus health, ``/metrics`` and OpenAPI.

``create_app`` is the only place an HTTP app is assembled:

- the role's routes (OTLP/HTTP receivers, Langfuse API resources: ``ingest.api``);
- ``GET /api/public/health`` -> ``{"status": "OK", "version"}``, or 503 with the reason the
  role's ``HealthCheck`` gives (Langfuse's health route answers the same shape);
- ``GET /api/public/openapi.json``: the operations of the mounted routes (``openapi``);
- ``GET /metrics``: Prometheus text exposition of the default registry;
- ONE exception-handler table: any exception of ``ingest.errors`` raised by a Langfuse API
  handler becomes ``{"message": ...}`` with the status of ``ingest.errors.status_for``.
  Server-side failures (5xx) answer a fixed phrase and go to the log, so storage internals
  never reach the client. OTLP routes answer their own errors (a ``google.rpc.Status``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ingest.build_info import VERSION
from ingest.errors import (
    BadRequest,
    HTTPError,
    PayloadTooLarge,
    UnsupportedMediaType,
    status_for,
)
from ingest.http.metrics import QueryMetricsMiddleware
from ingest.http.openapi import (
    OPENAPI_PATH,
    STRING,
    DocumentedRoute,
    Operation,
    openapi_document,
)
from ingest.http.responses import JSONResponse, error_response
from storage.auth import Unauthenticated
from storage.errors import PermanentError, RetryableError
from storage.query.schemas import Health

__all__ = ["HEALTH", "HEALTH_PATH", "METRICS", "OPENAPI", "HealthCheck", "api_error", "create_app"]

log = logging.getLogger(__name__)

HEALTH_PATH = "/api/public/health"

HealthCheck = Callable[[], Awaitable[str | None]]
"""Returns None when the role is healthy, else the reason (shown as ``status``)."""

HEALTH = Operation(
    "get",
    HEALTH_PATH,
    "Health check (no auth)",
    {"200": (Health, "healthy"), "503": (Health, "unhealthy, the status says why")},
    public=True,
)
OPENAPI = Operation(
    "get",
    OPENAPI_PATH,
    "This document (no auth)",
    {"200": ({"type": "object"}, "OpenAPI 3.1 document")},
    public=True,
)
METRICS = Operation(
    "get",
    "/metrics",
    "Prometheus metrics of the process (no auth)",
    {
        "200": {
            "description": "Prometheus text exposition",
            "content": {"text/plain": {"schema": STRING}},
        }
    },
    public=True,
)

_HANDLED: tuple[type[Exception], ...] = (
    HTTPError,
    BadRequest,
    Unauthenticated,
    PayloadTooLarge,
    UnsupportedMediaType,
    PermanentError,
    RetryableError,
)
_SERVER_MESSAGES = {
    503: "storage unavailable, retry later",
    500: "internal error while reading storage",
}


async def api_error(request: Request, exc: Exception) -> Response:
    """The answer of a Langfuse API route that raised ``exc`` (module docstring)."""
    status = status_for(exc)
    headers = dict(status.headers)
    if status.retry_after_header is not None:
        headers["Retry-After"] = status.retry_after_header
    message = status.message
    if status.server_side and not isinstance(exc, HTTPError):
        if status.http_status == 503:
            log.warning("%s %s: storage unavailable: %s", *_where(request), exc)
        else:
            log.error("%s %s: storage rejected the request", *_where(request), exc_info=exc)
        message = _SERVER_MESSAGES.get(status.http_status, message)
    return error_response(status.http_status, message, headers)


def _where(request: Request) -> tuple[str, str]:
    return request.method, request.url.path


def create_app(
    routes: Sequence[BaseRoute],
    health: HealthCheck,
    metrics: Callable[[], bytes] = generate_latest,
) -> Starlette:
    """The role's app: ``routes`` plus health, OpenAPI and metrics (module docstring);
    ``metrics`` renders the ``/metrics`` body (default: the process's registry; the
    all-in-one owner with worker processes adds theirs, ``ingest.app.worker_metrics``)."""

    async def metrics_route(request: Request) -> Response:
        return Response(metrics(), media_type=CONTENT_TYPE_LATEST)

    async def health_route(request: Request) -> Response:
        reason = await health()
        if reason is None:
            return JSONResponse({"status": "OK", "version": VERSION})
        return JSONResponse({"status": reason, "version": VERSION}, status_code=503)

    async def openapi_route(request: Request) -> Response:
        return Response(document, media_type="application/json")

    mounted: list[BaseRoute] = [
        *routes,
        DocumentedRoute(HEALTH_PATH, health_route, HEALTH),
        DocumentedRoute(OPENAPI_PATH, openapi_route, OPENAPI),
        DocumentedRoute("/metrics", metrics_route, METRICS),
    ]
    document = orjson.dumps(openapi_document(mounted))
    return Starlette(
        routes=mounted,
        middleware=[Middleware(QueryMetricsMiddleware)],
        exception_handlers=dict.fromkeys(_HANDLED, api_error),
    )
