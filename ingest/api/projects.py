"""``GET /api/public/projects``: the caller's project, in the shape the Langfuse SDK's
``auth_check`` validates (langfuse/langfuse ``fern/apis/server/definition/projects.yml``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.http.auth import authenticate
from ingest.http.openapi import DocumentedRoute, Operation, error_responses
from ingest.http.responses import JSONResponse
from storage.auth import KeyStore
from storage.query.schemas import Projects

__all__ = ["OPERATION", "routes"]

OPERATION = Operation(
    "get",
    "/api/public/projects",
    "The project of the API key",
    {"200": (Projects, "success"), **error_responses(("401",))},
)


def routes(keys: KeyStore) -> list[Route]:
    """The route; answers ``{"data": [{id, name, organization: {id, name}, metadata: {}}]}``."""

    async def projects(request: Request) -> Response:
        project = await authenticate(keys, request)
        organization = {"id": "otelfuse", "name": "otelfuse"}
        body = {"id": project.id, "name": project.name, "organization": organization}
        return JSONResponse({"data": [{**body, "metadata": {}}]})

    return [DocumentedRoute("/api/public/projects", projects, OPERATION)]
