"""Starlette routes of the score read API (paths and shapes: ``storage.query.scores``).

Handlers parse parameters, call the ``ScoreRepository`` in a worker thread and shape rows.
Errors are ``{"message"}``: 400 bad parameter, 401 credentials, 404 unknown score, 503 +
``Retry-After`` storage unavailable, 500 storage rejected the query.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from storage.auth import KeyStore, Project, Unauthenticated, authenticate_async
from storage.clickhouse.client import Client
from storage.errors import PermanentError, RetryableError
from storage.query.params import BadRequest, parse_page
from storage.query.scores.params import encode_cursor, parse_score_filter, parse_v3_query
from storage.query.scores.repository import ScoreRepository
from storage.query.scores.shapes import score_v2_json, score_v3_json, trace_summary_json

__all__ = ["score_routes"]

log = logging.getLogger(__name__)


class _JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _JSON({"message": message}, status_code=status, headers=headers)


Handler = Callable[[Request, Project], Awaitable[Response]]


class _ScoreApi:
    def __init__(self, repo: ScoreRepository, keys: KeyStore) -> None:
        self.repo = repo
        self.keys = keys

    def guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Auth plus the error-to-status mapping of the query API."""

        async def endpoint(request: Request) -> Response:
            try:
                project = await authenticate_async(self.keys, request.headers.get("authorization"))
            except Unauthenticated as exc:
                return _error(401, str(exc), {"WWW-Authenticate": 'Basic realm="otelfuse"'})
            except RetryableError as exc:
                retry_after = str(max(1, math.ceil(exc.retry_after_s)))
                return _error(
                    503, "authentication unavailable, retry later", {"Retry-After": retry_after}
                )
            try:
                return await handler(request, project)
            except BadRequest as exc:
                return _error(400, str(exc))
            except RetryableError as exc:
                log.warning("score query failed, storage unavailable: %s", exc)
                retry_after = str(max(1, math.ceil(exc.retry_after_s)))
                return _error(503, "storage unavailable, retry later", {"Retry-After": retry_after})
            except PermanentError:
                log.exception("score query rejected by storage")
                return _error(500, "internal error while reading storage")

        return endpoint

    async def list_v2(self, request: Request, project: Project) -> Response:
        page = parse_page(request.query_params)
        flt = parse_score_filter(request.query_params)
        rows, total = await run_in_threadpool(self.repo.list_v2, project.id, flt, page)
        data = [score_v2_json(row) for row in rows]
        if flt.with_trace:
            ids = sorted({row["trace_id"] for row in rows if row["trace_id"]})
            traces = await run_in_threadpool(self.repo.trace_summaries, project.id, ids)
            for item, row in zip(data, rows, strict=True):
                item["trace"] = trace_summary_json(traces.get(row["trace_id"] or ""))
        meta = {
            "page": page.page,
            "limit": page.limit,
            "totalItems": total,
            "totalPages": math.ceil(total / page.limit),
        }
        return _JSON({"data": data, "meta": meta})

    async def get_v2(self, request: Request, project: Project) -> Response:
        score_id = request.path_params["score_id"]
        row = await run_in_threadpool(self.repo.get, project.id, score_id)
        if row is None:
            return _error(404, f"Score {score_id} not found within authorized project")
        return _JSON(score_v2_json(row))

    async def list_v3(self, request: Request, project: Project) -> Response:
        q = parse_v3_query(request.query_params)
        rows = await run_in_threadpool(self.repo.list_v3, project.id, q)
        meta: dict[str, Any] = {"limit": q.limit}
        if len(rows) > q.limit:
            rows = rows[: q.limit]
            meta["cursor"] = encode_cursor(int(rows[-1]["timestamp_us"]), rows[-1]["id"])
        return _JSON({"data": [score_v3_json(row, q.fields) for row in rows], "meta": meta})


def score_routes(engine: Client, keys: KeyStore, database: str = "otelfuse") -> list[BaseRoute]:
    """The score read routes; mount them next to ``storage.query.api.query_routes``."""
    api = _ScoreApi(ScoreRepository(engine, database), keys)
    guard = api.guarded
    return [
        Route("/api/public/v2/scores", guard(api.list_v2), methods=["GET"]),
        Route("/api/public/v2/scores/{score_id}", guard(api.get_v2), methods=["GET"]),
        Route("/api/public/v3/scores", guard(api.list_v3), methods=["GET"]),
    ]
