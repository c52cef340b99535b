"""Traces: list, get with observations, delete (langfuse/langfuse
``fern/apis/server/definition/trace.yml``).

- ``GET /api/public/traces`` -> ``{"data": [Trace...], "meta": {page, limit, totalItems,
  totalPages}}`` (filters: ``storage.query.params.parse_trace_filter``);
- ``GET /api/public/traces/{traceId}`` -> Trace with ``observations: ObservationsView[]``;
  404 when it is not in the caller's project;
- ``DELETE /api/public/traces/{traceId}`` and ``DELETE /api/public/traces``
  (``{"traceIds": [...]}``, at most ``storage.query.deletion.MAX_TRACE_IDS``) ->
  ``{"message": ...}``; the trace, its observations and scores are removed.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.api.resource import ReadResource
from ingest.errors import HTTPError
from ingest.http.body import read_body
from ingest.http.responses import JSONResponse
from storage.auth import KeyStore
from storage.query import deletion, shapes
from storage.query.params import parse_page, parse_trace_filter
from storage.query.repository import Repository

__all__ = ["Traces"]


class Traces(ReadResource):
    """The trace routes over ``repo``; bodies are read up to ``max_request_bytes``."""

    def __init__(self, repo: Repository, keys: KeyStore, max_request_bytes: int) -> None:
        super().__init__(repo, keys)
        self.limit = max_request_bytes

    def routes(self) -> list[Route]:
        """GET and DELETE, on the collection and on one trace."""
        return [
            Route("/api/public/traces", self.list, methods=["GET"]),
            Route("/api/public/traces", self.delete_many, methods=["DELETE"]),
            Route("/api/public/traces/{trace_id}", self.get, methods=["GET"]),
            Route("/api/public/traces/{trace_id}", self.delete, methods=["DELETE"]),
        ]

    async def list(self, request: Request) -> Response:
        """A page of the project's traces, newest first unless ``orderBy`` says otherwise."""
        project = await self.project(request)
        page = parse_page(request.query_params)
        flt = parse_trace_filter(request.query_params)
        result = await run_in_threadpool(self.repo.list_traces, project.id, flt, page)
        data = [shapes.trace_list_item_json(row) for row in result.rows]
        return JSONResponse({"data": data, "meta": page.meta(result.total)})

    async def get(self, request: Request) -> Response:
        """One trace with its observations and scores."""
        project = await self.project(request)
        trace_id = request.path_params["trace_id"]
        detail = await run_in_threadpool(self.repo.get_trace, project.id, trace_id)
        if detail is None:
            raise HTTPError(404, f"Trace {trace_id} not found within authorized project")
        return JSONResponse(shapes.trace_detail_json(detail))

    async def delete(self, request: Request) -> Response:
        """Delete one trace (idempotent: an unknown id also succeeds)."""
        project = await self.project(request)
        trace_id = request.path_params["trace_id"]
        await run_in_threadpool(deletion.delete_traces, self.repo, project.id, [trace_id])
        return JSONResponse({"message": "Trace deleted successfully"})

    async def delete_many(self, request: Request) -> Response:
        """Delete the traces named in the body."""
        project = await self.project(request)
        trace_ids = deletion.parse_trace_ids(await read_body(request, self.limit))
        await run_in_threadpool(deletion.delete_traces, self.repo, project.id, trace_ids)
        return JSONResponse({"message": "Traces deleted successfully"})
