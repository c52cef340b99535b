"""Starlette routes of the Langfuse-compatible public read API (langfuse-anchor.md §5).

Routes (every one but health and the OpenAPI document needs ``Authorization: Basic``; every
query is scoped to the key's project):

- ``GET /api/public/health`` -> ``{"status": "OK", "version": "0.1.0"}``, 503 when ClickHouse
  fails;
- ``GET /api/public/openapi.json`` -> the OpenAPI 3.1 document of these routes (``openapi``);
- ``GET /api/public/projects`` -> ``{"data": [{"id", "name", "organization": {id, name},
  "metadata": {}}]}`` (the shape the Langfuse SDK's ``auth_check`` validates);
- ``GET /api/public/traces`` -> ``{"data": [Trace...], "meta": {page, limit, totalItems,
  totalPages}}``; ``GET /api/public/traces/{traceId}`` -> Trace with ``observations:
  ObservationsView[]``;
- ``DELETE /api/public/traces/{traceId}``, ``DELETE /api/public/traces`` (``{"traceIds": [...]}``)
  -> ``{"message": ...}`` (``deletion``);
- ``GET /api/public/observations`` -> ``{"data": [ObservationsView...], "meta": ...}``;
  ``GET /api/public/observations/{observationId}`` -> ObservationsView;
- ``GET /api/public/v2/observations`` -> ``{"data": [ObservationV2...], "meta": {"cursor"?}}``
  (``observations_v2``);
- ``GET /api/public/sessions``, ``GET /api/public/sessions/{sessionId}`` (``sessions``);
- ``GET /api/public/metrics/daily`` (``metrics_daily``);
- ``GET /api/public/metrics?query=``, ``GET /api/public/v2/metrics?query=`` (``metrics``).

Errors are ``{"message": ...}``: 400 bad parameter, 401 bad credentials, 404 not found in the
caller's project, 503 (+ ``Retry-After``) storage unavailable, 500 storage rejected the query.
Handlers never build SQL: they parse parameters, call the query modules in a worker thread and
shape rows with their ``*_json`` functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from importlib import metadata
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from storage.auth import KeyStore, Project, Unauthenticated, authenticate_async
from storage.errors import PermanentError, RetryableError
from storage.query import (
    deletion,
    metrics,
    metrics_daily,
    observations_v2,
    openapi,
    sessions,
    shapes,
)
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
                project = await authenticate_async(self.keys, request.headers.get("authorization"))
            except Unauthenticated as exc:
                return _error(401, str(exc), {"WWW-Authenticate": 'Basic realm="otelfuse"'})
            except RetryableError as exc:
                log.warning("authentication unavailable: %s", exc)
                retry_after = str(max(1, math.ceil(exc.retry_after_s)))
                headers = {"Retry-After": retry_after}
                return _error(503, "authentication unavailable, retry later", headers)
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

    async def observations_v2(self, request: Request, project: Project) -> Response:
        req = observations_v2.parse_observations_v2(request.query_params)
        rows, cursor = await run_in_threadpool(
            observations_v2.list_observations_v2, self.repo, project.id, req
        )
        data = [observations_v2.observation_v2_json(row, req.groups) for row in rows]
        meta = {"cursor": observations_v2.encode_cursor(cursor)} if cursor is not None else {}
        return JSONBody({"data": data, "meta": meta})

    async def sessions(self, request: Request, project: Project) -> Response:
        page = parse_page(request.query_params)
        flt = sessions.parse_session_filter(request.query_params)
        result = await run_in_threadpool(
            sessions.list_sessions, self.repo, project.id, flt, page.limit, page.offset
        )
        data = [sessions.session_json(row) for row in result.rows]
        return JSONBody({"data": data, "meta": _meta(page, result.total)})

    async def session(self, request: Request, project: Project) -> Response:
        session_id = request.path_params["session_id"]
        detail = await run_in_threadpool(sessions.get_session, self.repo, project.id, session_id)
        if detail is None:
            return _error(404, f"Session {session_id} not found within authorized project")
        return JSONBody(sessions.session_detail_json(detail))

    async def metrics_daily(self, request: Request, project: Project) -> Response:
        page = parse_page(request.query_params)
        flt = metrics_daily.parse_daily_filter(request.query_params)
        result = await run_in_threadpool(
            metrics_daily.daily_metrics, self.repo, project.id, flt, page.limit, page.offset
        )
        data = [metrics_daily.daily_metrics_json(row) for row in result.rows]
        return JSONBody({"data": data, "meta": _meta(page, result.total)})

    def metrics(self, version: int) -> Callable[[Request, Project], Awaitable[Response]]:
        """The handler of ``/metrics`` (``version=1``) or ``/v2/metrics``."""

        async def handler(request: Request, project: Project) -> Response:
            query = metrics.parse_metrics_query(request.query_params.get("query"), version)
            rows = await run_in_threadpool(metrics.run_metrics_query, self.repo, project.id, query)
            return JSONBody(metrics.metrics_json(query, rows))

        return handler

    async def delete_trace(self, request: Request, project: Project) -> Response:
        trace_id = request.path_params["trace_id"]
        await run_in_threadpool(deletion.delete_traces, self.repo, project.id, [trace_id])
        return JSONBody({"message": "Trace deleted successfully"})

    async def delete_traces(self, request: Request, project: Project) -> Response:
        trace_ids = deletion.parse_trace_ids(await request.body())
        await run_in_threadpool(deletion.delete_traces, self.repo, project.id, trace_ids)
        return JSONBody({"message": "Traces deleted successfully"})


def query_routes(
    repo: Repository,
    keys: KeyStore,
    *,
    openapi_paths: Mapping[str, Any] | None = None,
    openapi_schemas: Mapping[str, Any] | None = None,
) -> list[BaseRoute]:
    """The public read API routes; mount them in the HTTP app next to the OTLP receiver.

    ``openapi_paths`` / ``openapi_schemas`` extend the served OpenAPI document with routes
    mounted elsewhere (e.g. the scores API passes its path items and component schemas here;
    see ``openapi.openapi_document``).
    """
    api = _QueryApi(repo, keys)
    auth = api.authenticated
    document = orjson.dumps(openapi.openapi_document(openapi_paths, openapi_schemas))

    async def openapi_json(request: Request) -> Response:
        return Response(document, media_type="application/json")

    return [
        Route("/api/public/health", api.health, methods=["GET"]),
        Route(openapi.OPENAPI_PATH, openapi_json, methods=["GET"]),
        Route("/api/public/projects", auth(api.projects), methods=["GET"]),
        Route("/api/public/traces", auth(api.traces), methods=["GET"]),
        Route("/api/public/traces", auth(api.delete_traces), methods=["DELETE"]),
        Route("/api/public/traces/{trace_id}", auth(api.trace), methods=["GET"]),
        Route("/api/public/traces/{trace_id}", auth(api.delete_trace), methods=["DELETE"]),
        Route("/api/public/observations", auth(api.observations), methods=["GET"]),
        Route("/api/public/observations/{observation_id}", auth(api.observation), methods=["GET"]),
        Route("/api/public/v2/observations", auth(api.observations_v2), methods=["GET"]),
        Route("/api/public/sessions", auth(api.sessions), methods=["GET"]),
        Route("/api/public/sessions/{session_id}", auth(api.session), methods=["GET"]),
        Route("/api/public/metrics/daily", auth(api.metrics_daily), methods=["GET"]),
        Route("/api/public/metrics", auth(api.metrics(1)), methods=["GET"]),
        Route("/api/public/v2/metrics", auth(api.metrics(2)), methods=["GET"]),
    ]
