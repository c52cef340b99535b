"""Starlette routes of the Langfuse-compatible public read API (langfuse-anchor.md §5).

Routes (all ``GET``; every one but health needs ``Authorization: Basic``):

- ``/api/public/health`` -> ``{"status": "OK", "version": "0.1.0"}``, 503 when ClickHouse fails;
- ``/api/public/projects`` -> ``{"data": [{"id", "name", "organization": {id, name},
  "metadata": {}}]}`` (the shape the Langfuse SDK's ``auth_check`` validates);
- ``/api/public/traces`` -> ``{"data": [Trace...], "meta": {page, limit, totalItems, totalPages}}``;
- ``/api/public/traces/{traceId}`` -> Trace with ``observations: ObservationsView[]``;
- ``/api/public/observations`` -> ``{"data": [ObservationsView...], "meta": ...}``;
- ``/api/public/observations/{observationId}`` -> ObservationsView.

Errors are ``{"message": ...}``: 400 bad parameter, 401 bad credentials, 404 not found in the
caller's project, 503 (+ ``Retry-After``) storage unavailable, 500 storage rejected the query.
Handlers never build SQL: they parse parameters, call the ``Repository`` in a worker thread and
shape rows with ``storage.query.shapes``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from storage.auth import KeyStore, Project, Unauthenticated, authenticate
from storage.errors import PermanentError, RetryableError
from storage.query import shapes
from storage.query.params import (
    BadRequest,
    PageRequest,
    parse_observation_filter,
    parse_page,
    parse_trace_filter,
)
from storage.query.repository import Repository

__all__ = ["JSONBody", "query_routes"]

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]


def _version() -> str:
    try:
        return metadata.version("otelfuse")
    except metadata.PackageNotFoundError:
        return "0.1.0"


VERSION = _version()


class JSONBody(Response):
    """A JSON response encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` (dicts, lists, str, int, float, bool, None)."""
        return orjson.dumps(content)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONBody({"message": message}, status_code=status, headers=headers)


def _meta(page: PageRequest, total: int) -> dict[str, int]:
    return {
        "page": page.page,
        "limit": page.limit,
        "totalItems": total,
        "totalPages": math.ceil(total / page.limit),
    }


class _QueryApi:
    def __init__(self, repo: Repository, keys: KeyStore) -> None:
        self.repo = repo
        self.keys = keys

    def authenticated(self, handler: Callable[[Request, Project], Awaitable[Response]]) -> Handler:
        """Wrap ``handler`` with auth and the error-to-status mapping."""

        async def endpoint(request: Request) -> Response:
            try:
                project = authenticate(self.keys, request.headers.get("authorization"))
            except Unauthenticated as exc:
                return _error(401, str(exc), {"WWW-Authenticate": 'Basic realm="otelfuse"'})
            try:
                return await handler(request, project)
            except BadRequest as exc:
                return _error(400, str(exc))
            except RetryableError as exc:
                log.warning("query failed, storage unavailable: %s", exc)
                retry_after = str(max(1, math.ceil(exc.retry_after_s)))
                return _error(503, "storage unavailable, retry later", {"Retry-After": retry_after})
            except PermanentError:
                log.exception("query rejected by storage")
                return _error(500, "internal error while reading storage")

        return endpoint

    async def health(self, request: Request) -> Response:
        try:
            await run_in_threadpool(self.repo.ping)
        except Exception as exc:  # any failure means "not healthy"; details go to the log
            log.warning("health check failed: %s", exc)
            return JSONBody({"status": "Database unavailable", "version": VERSION}, 503)
        return JSONBody({"status": "OK", "version": VERSION})

    async def projects(self, request: Request, project: Project) -> Response:
        organization = {"id": "otelfuse", "name": "otelfuse"}
        body = {"id": project.id, "name": project.name, "organization": organization}
        return JSONBody({"data": [{**body, "metadata": {}}]})

    async def traces(self, request: Request, project: Project) -> Response:
        page = parse_page(request.query_params)
        flt = parse_trace_filter(request.query_params)
        result = await run_in_threadpool(self.repo.list_traces, project.id, flt, page)
        data = [shapes.trace_list_item_json(row) for row in result.rows]
        return JSONBody({"data": data, "meta": _meta(page, result.total)})

    async def trace(self, request: Request, project: Project) -> Response:
        trace_id = request.path_params["trace_id"]
        detail = await run_in_threadpool(self.repo.get_trace, project.id, trace_id)
        if detail is None:
            return _error(404, f"Trace {trace_id} not found within authorized project")
        return JSONBody(shapes.trace_detail_json(detail))

    async def observations(self, request: Request, project: Project) -> Response:
        page = parse_page(request.query_params)
        flt = parse_observation_filter(request.query_params)
        result = await run_in_threadpool(self.repo.list_observations, project.id, flt, page)
        data = [shapes.observation_json(row) for row in result.rows]
        return JSONBody({"data": data, "meta": _meta(page, result.total)})

    async def observation(self, request: Request, project: Project) -> Response:
        observation_id = request.path_params["observation_id"]
        row = await run_in_threadpool(self.repo.get_observation, project.id, observation_id)
        if row is None:
            return _error(404, f"Observation {observation_id} not found within authorized project")
        return JSONBody(shapes.observation_json(row))


def query_routes(repo: Repository, keys: KeyStore) -> list[BaseRoute]:
    """The public read API routes; mount them in the HTTP app next to the OTLP receiver."""
    api = _QueryApi(repo, keys)
    auth = api.authenticated
    return [
        Route("/api/public/health", api.health, methods=["GET"]),
        Route("/api/public/projects", auth(api.projects), methods=["GET"]),
        Route("/api/public/traces", auth(api.traces), methods=["GET"]),
        Route("/api/public/traces/{trace_id}", auth(api.trace), methods=["GET"]),
        Route("/api/public/observations", auth(api.observations), methods=["GET"]),
        Route("/api/public/observations/{observation_id}", auth(api.observation), methods=["GET"]),
    ]
