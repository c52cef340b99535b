"""Metrics (langfuse/langfuse ``fern/apis/server/definition/metrics.yml`` and
``metrics-v2.yml``, ``metrics/daily``).

- ``GET /api/public/metrics/daily`` -> ``{"data": [DailyMetrics...], "meta": {page, ...}}``;
- ``GET /api/public/metrics?query=<JSON>`` (v1 views) and ``GET /api/public/v2/metrics``
  (v2 views) -> ``{"data": [row...]}`` (``storage.query.metrics``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.api.parameters import ENVIRONMENT, PAGE, TIME_RANGE, filter_array
from ingest.api.resource import ReadResource
from ingest.http.openapi import (
    STRING,
    TIME_IN,
    DocumentedRoute,
    Schema,
    array,
    closed_object,
    json_param,
    query_param,
    read,
)
from ingest.http.responses import JSONResponse
from storage.query import metrics, metrics_daily, schemas
from storage.query.metrics_views import VIEWS_V1, VIEWS_V2, View

__all__ = ["OPERATIONS", "Metrics"]


def _view_query(view: View) -> Schema:
    """The query object for one view: its dimensions, measures and filter columns."""
    filter_columns = [*view.dimensions, *view.time_names]
    if view.metadata is not None:
        filter_columns.append("metadata")
    dimension = closed_object({"field": {"type": "string", "enum": sorted(view.dimensions)}})
    measure = closed_object(
        {
            "measure": {"type": "string", "enum": sorted(view.measures)},
            "aggregation": {"type": "string", "enum": list(metrics.AGGREGATIONS)},
        }
    )
    granularity = {"type": "string", "enum": ["auto", *metrics.GRANULARITIES]}
    direction = {"type": "string", "enum": ["asc", "desc"]}
    return closed_object(
        {
            "view": {"type": "string", "const": view.name},
            "dimensions": {**array(dimension), "maxItems": metrics.MAX_DIMENSIONS},
            "metrics": {**array(measure), "minItems": 1, "maxItems": metrics.MAX_METRICS},
            "filters": filter_array(filter_columns),
            "timeDimension": {
                "oneOf": [{"type": "null"}, closed_object({"granularity": granularity})]
            },
            "fromTimestamp": TIME_IN,
            "toTimestamp": TIME_IN,
            "orderBy": {
                "oneOf": [
                    {"type": "null"},
                    array(closed_object({"field": STRING, "direction": direction})),
                ]
            },
            "config": closed_object(
                {
                    "bins": {"type": "integer", "minimum": 1, "maximum": 100},
                    "row_limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                required=(),
            ),
        },
        required=("view", "metrics", "fromTimestamp", "toTimestamp"),
    )


def _metrics_query(views: Mapping[str, View]) -> Schema:
    return {
        "description": "A metrics query (docs/reference/langfuse.md §5): fromTimestamp <"
        " toTimestamp; responses key dimensions by field, the time bucket as time_dimension and"
        " metrics as <aggregation>_<measure>.",
        "oneOf": [_view_query(v) for _, v in sorted(views.items())],
    }


def _query_param(schema: str) -> Schema:
    return json_param("query", schema, "the metrics query object, JSON-encoded", required=True)


OPERATIONS = {
    "daily": read(
        "/api/public/metrics/daily",
        "Daily usage and cost",
        schemas.DailyMetrics,
        [
            *PAGE,
            query_param("traceName", STRING, "trace name"),
            query_param("userId", STRING, "trace user id"),
            query_param("tags", STRING, "all must match", repeat=True),
            ENVIRONMENT,
            *TIME_RANGE,
        ],
    ),
    "v1": read(
        "/api/public/metrics",
        "Aggregate metrics (v1 views)",
        schemas.MetricsResponse,
        [_query_param("MetricsQuery")],
        schemas={"MetricsQuery": _metrics_query(VIEWS_V1)},
    ),
    "v2": read(
        "/api/public/v2/metrics",
        "Aggregate metrics (v2 views)",
        schemas.MetricsResponse,
        [_query_param("MetricsQueryV2")],
        schemas={"MetricsQueryV2": _metrics_query(VIEWS_V2)},
    ),
}
"""The documented operations, by handler name."""


class Metrics(ReadResource):
    """The metrics routes over ``repo``."""

    def routes(self) -> list[Route]:
        """Daily metrics, the v1 and the v2 query endpoint."""
        return [
            DocumentedRoute("/api/public/metrics/daily", self.daily, OPERATIONS["daily"]),
            DocumentedRoute("/api/public/metrics", self.query(1), OPERATIONS["v1"]),
            DocumentedRoute("/api/public/v2/metrics", self.query(2), OPERATIONS["v2"]),
        ]

    async def daily(self, request: Request) -> Response:
        """Per-day trace and observation counts, cost and usage by model."""
        return await self.page(
            request,
            metrics_daily.parse_daily_filter,
            metrics_daily.daily_metrics,
            metrics_daily.daily_metrics_json,
        )

    def query(self, version: int) -> Callable[[Request], Awaitable[Response]]:
        """The handler of ``/metrics`` (``version=1``) or ``/v2/metrics``."""

        async def handler(request: Request) -> Response:
            project = await self.project(request)
            query = metrics.parse_metrics_query(request.query_params.get("query"), version)
            rows = await run_in_threadpool(metrics.run_metrics_query, self.repo, project.id, query)
            return JSONResponse(metrics.metrics_json(query, rows))

        return handler
