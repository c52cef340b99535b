"""Metrics (langfuse/langfuse ``fern/apis/server/definition/metrics.yml`` and
``metrics-v2.yml``, ``metrics/daily``).

- ``GET /api/public/metrics/daily`` -> ``{"data": [DailyMetrics...], "meta": {page, ...}}``;
- ``GET /api/public/metrics?query=<JSON>`` (v1 views) and ``GET /api/public/v2/metrics``
  (v2 views) -> ``{"data": [row...]}`` (``storage.query.metrics``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.api.resource import ReadResource
from ingest.http.responses import JSONResponse
from storage.query import metrics, metrics_daily
from storage.query.params import parse_page

__all__ = ["Metrics"]


class Metrics(ReadResource):
    """The metrics routes over ``repo``."""

    def routes(self) -> list[Route]:
        """Daily metrics, the v1 and the v2 query endpoint."""
        return [
            Route("/api/public/metrics/daily", self.daily, methods=["GET"]),
            Route("/api/public/metrics", self.query(1), methods=["GET"]),
            Route("/api/public/v2/metrics", self.query(2), methods=["GET"]),
        ]

    async def daily(self, request: Request) -> Response:
        """Per-day trace and observation counts, cost and usage by model."""
        project = await self.project(request)
        page = parse_page(request.query_params)
        flt = metrics_daily.parse_daily_filter(request.query_params)
        result = await run_in_threadpool(
            metrics_daily.daily_metrics, self.repo, project.id, flt, page.limit, page.offset
        )
        data = [metrics_daily.daily_metrics_json(row) for row in result.rows]
        return JSONResponse({"data": data, "meta": page.meta(result.total)})

    def query(self, version: int) -> Callable[[Request], Awaitable[Response]]:
        """The handler of ``/metrics`` (``version=1``) or ``/v2/metrics``."""

        async def handler(request: Request) -> Response:
            project = await self.project(request)
            query = metrics.parse_metrics_query(request.query_params.get("query"), version)
            rows = await run_in_threadpool(metrics.run_metrics_query, self.repo, project.id, query)
            return JSONResponse(metrics.metrics_json(query, rows))

        return handler
