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

from ingest.api.resource import ReadResource
from ingest.errors import HTTPError
from ingest.http.responses import JSONResponse
from storage.query import observations_v2, shapes
from storage.query.params import parse_observation_filter, parse_page

__all__ = ["Observations"]


class Observations(ReadResource):
    """The observation routes over ``repo``."""

    def routes(self) -> list[Route]:
        """v1 list and get, v2 list."""
        return [
            Route("/api/public/observations", self.list, methods=["GET"]),
            Route("/api/public/observations/{observation_id}", self.get, methods=["GET"]),
            Route("/api/public/v2/observations", self.list_v2, methods=["GET"]),
        ]

    async def list(self, request: Request) -> Response:
        """A page of the project's observations."""
        project = await self.project(request)
        page = parse_page(request.query_params)
        flt = parse_observation_filter(request.query_params)
        result = await run_in_threadpool(self.repo.list_observations, project.id, flt, page)
        data = [shapes.observation_json(row) for row in result.rows]
        return JSONResponse({"data": data, "meta": page.meta(result.total)})

    async def get(self, request: Request) -> Response:
        """One observation."""
        project = await self.project(request)
        observation_id = request.path_params["observation_id"]
        row = await run_in_threadpool(self.repo.get_observation, project.id, observation_id)
        if row is None:
            message = f"Observation {observation_id} not found within authorized project"
            raise HTTPError(404, message)
        return JSONResponse(shapes.observation_json(row))

    async def list_v2(self, request: Request) -> Response:
        """Observations with field groups, cursor-paginated."""
        project = await self.project(request)
        req = observations_v2.parse_observations_v2(request.query_params)
        rows, cursor = await run_in_threadpool(
            observations_v2.list_observations_v2, self.repo, project.id, req
        )
        data = [observations_v2.observation_v2_json(row, req.groups) for row in rows]
        meta = {"cursor": observations_v2.encode_cursor(cursor)} if cursor is not None else {}
        return JSONResponse({"data": data, "meta": meta})
