"""Observations, v1 and v2 (langfuse/langfuse ``fern/apis/server/definition/observations.yml``
and ``observations-v2.yml``).

- ``GET /api/public/observations`` -> ``{"data": [ObservationsView...], "meta": {page, limit,
  totalItems, totalPages}}``; ``GET /api/public/observations/{observationId}`` ->
  ObservationsView, 404 when it is not in the caller's project;
- ``GET /api/public/v2/observations`` -> ``{"data": [ObservationV2...], "meta": {"cursor"?}}``
  with ``fields`` groups and cursor pagination (``storage.query.observations_v2``).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.api.parameters import ENVIRONMENT, PAGE, filter_array
from ingest.api.resource import ReadResource
from ingest.http.openapi import (
    BOOLEAN,
    STRING,
    TIME_IN,
    DocumentedRoute,
    json_param,
    path_param,
    query_param,
    read,
)
from ingest.http.responses import JSONResponse
from storage.query import observations, observations_v2, schemas
from storage.query.filter_columns import OBSERVATION_FILTERS

__all__ = ["OPERATIONS", "Observations"]

_FILTERS = [
    query_param("name", STRING, "observation name"),
    query_param("userId", STRING, "the trace's user id"),
    query_param("type", STRING, "SPAN, GENERATION, EVENT, AGENT, TOOL, ..."),
    query_param("traceId", STRING, "trace id"),
    query_param("level", STRING, "DEBUG, DEFAULT, WARNING, ERROR"),
    query_param("parentObservationId", STRING, "parent observation id"),
    ENVIRONMENT,
    query_param("fromStartTime", TIME_IN, "startTime >= (ISO-8601)"),
    query_param("toStartTime", TIME_IN, "startTime < (ISO-8601)"),
    query_param("version", STRING, "observation version"),
    json_param(
        "filter",
        "ObservationFilter",
        "JSON array of {type, column, operator, value, key?} conditions (all must hold)",
        required=False,
    ),
]
_V2_PARAMS = [
    query_param(
        "fields",
        STRING,
        f"comma-separated field groups: {', '.join(observations_v2.FIELD_GROUPS)}",
    ),
    query_param("expandMetadata", STRING, "comma-separated metadata keys not to truncate"),
    query_param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": observations_v2.MAX_LIMIT},
        "page size",
    ),
    query_param("cursor", STRING, "meta.cursor of the previous page"),
    query_param("sessionId", STRING, "the trace's session id"),
    query_param("isRootObservation", BOOLEAN, "only observations without (true) / with a parent"),
    query_param("parseIoAsJson", {"type": "boolean", "enum": [False]}, "must be false"),
    *(p for p in _FILTERS if p["name"] != "parentObservationId"),
    query_param("parentObservationId", STRING, "parent id; empty = only parentless"),
]
_FILTER_SCHEMAS = {"ObservationFilter": filter_array(OBSERVATION_FILTERS.columns)}

OPERATIONS = {
    "list": read(
        "/api/public/observations",
        "List observations (v1)",
        schemas.ObservationsViews,
        [*PAGE, *_FILTERS],
        schemas=_FILTER_SCHEMAS,
    ),
    "get": read(
        "/api/public/observations/{observationId}",
        "An observation (v1)",
        schemas.ObservationsView,
        [path_param("observationId", "observation id")],
        not_found=True,
    ),
    "list_v2": read(
        "/api/public/v2/observations",
        "List observations with a cursor and field groups",
        schemas.ObservationsV2Response,
        _V2_PARAMS,
        schemas={
            **_FILTER_SCHEMAS,
            "ObservationV2": {
                "description": "Keys of the requested field groups: "
                + "; ".join(
                    f"{g}: {', '.join(keys)}" for g, keys in observations_v2.FIELD_GROUPS.items()
                )
            },
        },
    ),
}
"""The documented operations, by handler name."""


class Observations(ReadResource):
    """The observation routes over ``repo``."""

    def routes(self) -> list[Route]:
        """v1 list and get, v2 list."""
        return [
            DocumentedRoute("/api/public/observations", self.list, OPERATIONS["list"]),
            DocumentedRoute(
                "/api/public/observations/{observation_id}", self.get, OPERATIONS["get"]
            ),
            DocumentedRoute("/api/public/v2/observations", self.list_v2, OPERATIONS["list_v2"]),
        ]

    async def list(self, request: Request) -> Response:
        """A page of the project's observations."""
        return await self.page(
            request,
            observations.parse_observation_filter,
            observations.list_observations,
            observations.observation_json,
        )

    async def get(self, request: Request) -> Response:
        """One observation."""
        return await self.one(
            request, "Observation", observations.get_observation, observations.observation_json
        )

    async def list_v2(self, request: Request) -> Response:
        """Observations with field groups, cursor-paginated."""
        project = await self.project(request)
        req = observations_v2.parse_observations_v2(request.query_params)
        rows, cursor = await run_in_threadpool(
            observations_v2.list_observations_v2, self.repo, project.id, req
        )
        data = [observations_v2.observation_v2_json(row, req.groups) for row in rows]
        await self.resolve(project, data, parse_json=False)
        meta = {"cursor": observations_v2.encode_cursor(cursor)} if cursor is not None else {}
        return JSONResponse({"data": data, "meta": meta})
