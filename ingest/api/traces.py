"""Traces: list, get with observations, delete (langfuse/langfuse
``fern/apis/server/definition/trace.yml``).

- ``GET /api/public/traces`` -> ``{"data": [Trace...], "meta": {page, limit, totalItems,
  totalPages}}`` (filters: ``storage.query.traces.parse_trace_filter``);
- ``GET /api/public/traces/{traceId}`` -> Trace with ``observations: ObservationsView[]``;
  404 when it is not in the caller's project;
- ``DELETE /api/public/traces/{traceId}`` and ``DELETE /api/public/traces``
  (``{"traceIds": [...]}``, at most ``storage.query.deletion.MAX_TRACE_IDS``) ->
  ``{"message": ...}``; the trace, its observations and scores are removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.api.parameters import ENVIRONMENT, PAGE, TIME_RANGE, filter_array
from ingest.api.resource import ReadResource
from ingest.http.body import read_body
from ingest.http.openapi import (
    STRING,
    DocumentedRoute,
    Operation,
    array,
    closed_object,
    error_responses,
    json_param,
    path_param,
    query_param,
    read,
    ref,
)
from ingest.http.responses import JSONResponse
from storage.auth import KeyStore
from storage.blobs.claim_check import FieldResolver, trace_prefix
from storage.postgres.media import MediaRepository
from storage.query import deletion, schemas, traces
from storage.query.filter_columns import TRACE_FILTERS
from storage.query.repository import Repository

__all__ = ["MAX_DELETE_BODY_BYTES", "OPERATIONS", "Traces"]

MAX_DELETE_BODY_BYTES = 256 * 1024
"""Largest ``DELETE /traces`` body: ``MAX_TRACE_IDS`` ids of ~100 characters fit easily."""

_TRACE_PARAMS = [
    *PAGE,
    query_param("userId", STRING, "trace user id"),
    query_param("name", STRING, "trace name"),
    query_param("sessionId", STRING, "session id"),
    *TIME_RANGE,
    query_param(
        "orderBy",
        {
            "type": "string",
            "enum": [
                f"{f}.{d}" for f in sorted(traces.TRACE_ORDER_FIELDS) for d in ("asc", "desc")
            ],
        },
        "field.asc or field.desc",
    ),
    query_param("tags", STRING, "all must match", repeat=True),
    query_param("version", STRING, "trace version"),
    query_param("release", STRING, "trace release"),
    ENVIRONMENT,
    json_param(
        "filter",
        "TraceFilter",
        "JSON array of {type, column, operator, value, key?} conditions (all must hold)",
        required=False,
    ),
]
_TRACE_ID = path_param("traceId", "trace id")
_DELETED = {"200": (schemas.Message, "deleted"), **error_responses(("400", "401", "500", "503"))}
_DELETE_REQUEST = closed_object(
    {
        "traceIds": {
            **array({"type": "string", "minLength": 1}),
            "minItems": 1,
            "maxItems": deletion.MAX_TRACE_IDS,
        }
    }
)

OPERATIONS = {
    "list": read(
        "/api/public/traces",
        "List traces",
        schemas.Traces,
        _TRACE_PARAMS,
        schemas={"TraceFilter": filter_array(TRACE_FILTERS.columns)},
    ),
    "delete_many": Operation(
        "delete",
        "/api/public/traces",
        "Delete traces with their observations and scores",
        _DELETED,
        request_body={
            "required": True,
            "content": {"application/json": {"schema": ref("DeleteTracesRequest")}},
        },
        schemas={"DeleteTracesRequest": _DELETE_REQUEST},
    ),
    "get": read(
        "/api/public/traces/{traceId}",
        "A trace with its observations",
        schemas.TraceWithFullDetails,
        [_TRACE_ID],
        not_found=True,
    ),
    "delete": Operation(
        "delete",
        "/api/public/traces/{traceId}",
        "Delete a trace with its observations and scores",
        _DELETED,
        [_TRACE_ID],
    ),
}
"""The documented operations, by handler name."""


class Traces(ReadResource):
    """The trace routes over ``repo``; a ``DELETE`` body is read up to ``max_request_bytes``
    or ``MAX_DELETE_BODY_BYTES``, whichever is smaller. With ``media`` (PostgreSQL), deleting
    a trace also removes its media links, after its rows (a failure in between is repaired
    by the client's retry, both steps being idempotent); with ``fields``, also its offloaded
    fields (``storage.blobs.claim_check.trace_prefix``), last. ``delete_traces`` removes the
    rows (default: ``storage.query.deletion.delete_traces`` on ``repo``; where a writer keeps
    trace states in memory, its ``ClickHouseWriter.deleting`` around that)."""

    def __init__(
        self,
        repo: Repository,
        keys: KeyStore,
        max_request_bytes: int,
        media: MediaRepository | None = None,
        *,
        fields: FieldResolver | None = None,
        delete_traces: deletion.TraceDeletion | None = None,
    ) -> None:
        super().__init__(repo, keys, fields=fields)
        self.limit = min(max_request_bytes, MAX_DELETE_BODY_BYTES)
        self.media = media
        self.delete_traces = delete_traces or partial(deletion.delete_traces, repo)

    def routes(self) -> list[Route]:
        """GET and DELETE, on the collection and on one trace."""
        return [
            DocumentedRoute("/api/public/traces", self.list, OPERATIONS["list"]),
            DocumentedRoute("/api/public/traces", self.delete_many, OPERATIONS["delete_many"]),
            DocumentedRoute("/api/public/traces/{trace_id}", self.get, OPERATIONS["get"]),
            DocumentedRoute("/api/public/traces/{trace_id}", self.delete, OPERATIONS["delete"]),
        ]

    async def list(self, request: Request) -> Response:
        """A page of the project's traces, newest first unless ``orderBy`` says otherwise."""
        return await self.page(
            request, traces.parse_trace_filter, traces.list_traces, traces.trace_list_item_json
        )

    async def get(self, request: Request) -> Response:
        """One trace with its observations and scores."""
        return await self.one(request, "Trace", traces.get_trace, traces.trace_detail_json)

    async def delete(self, request: Request) -> Response:
        """Delete one trace (idempotent: an unknown id also succeeds)."""
        project = await self.project(request)
        trace_id = request.path_params["trace_id"]
        await run_in_threadpool(self.delete_traces, project.id, [trace_id])
        await self._unlink(project.id, [trace_id])
        return JSONResponse({"message": "Trace deleted successfully"})

    async def delete_many(self, request: Request) -> Response:
        """Delete the traces named in the body."""
        project = await self.project(request)
        trace_ids = deletion.parse_trace_ids(await read_body(request, self.limit))
        await run_in_threadpool(self.delete_traces, project.id, trace_ids)
        await self._unlink(project.id, trace_ids)
        return JSONResponse({"message": "Traces deleted successfully"})

    async def _unlink(self, project_id: str, trace_ids: Sequence[str]) -> None:
        """Remove the media links and offloaded fields of deleted traces."""
        if self.media is not None:
            await self.media.unlink_traces(project_id, trace_ids)
        if self.fields is not None:
            for trace_id in trace_ids:
                await self.fields.store.delete_prefix(trace_prefix(project_id, trace_id))
