"""Sessions (langfuse/langfuse ``fern/apis/server/definition/sessions.yml``).

- ``GET /api/public/sessions`` -> ``{"data": [Session...], "meta": {page, limit, totalItems,
  totalPages}}``;
- ``GET /api/public/sessions/{sessionId}`` -> SessionWithTraces, 404 when the project has no
  trace in it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.api.parameters import ENVIRONMENT, PAGE, TIME_RANGE
from ingest.api.resource import ReadResource
from ingest.http.openapi import DocumentedRoute, path_param, read
from storage.query import schemas, sessions

__all__ = ["OPERATIONS", "Sessions"]

OPERATIONS = {
    "list": read(
        "/api/public/sessions", "List sessions", schemas.Sessions, [*PAGE, *TIME_RANGE, ENVIRONMENT]
    ),
    "get": read(
        "/api/public/sessions/{sessionId}",
        "A session with its traces",
        schemas.SessionWithTraces,
        [path_param("sessionId", "session id")],
        not_found=True,
    ),
}
"""The documented operations, by handler name."""


class Sessions(ReadResource):
    """The session routes over ``repo``."""

    def routes(self) -> list[Route]:
        """List and get."""
        return [
            DocumentedRoute("/api/public/sessions", self.list, OPERATIONS["list"]),
            DocumentedRoute("/api/public/sessions/{session_id}", self.get, OPERATIONS["get"]),
        ]

    async def list(self, request: Request) -> Response:
        """A page of the project's sessions."""
        return await self.page(
            request, sessions.parse_session_filter, sessions.list_sessions, sessions.session_json
        )

    async def get(self, request: Request) -> Response:
        """One session with its traces."""
        return await self.one(
            request, "Session", sessions.get_session, sessions.session_detail_json
        )
