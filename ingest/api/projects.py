"""``GET /api/public/projects``: the caller's project, in the shape the Langfuse SDK's
``auth_check`` validates (langfuse/langfuse ``fern/apis/server/definition/projects.yml``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.http.auth import authenticate
from ingest.http.responses import JSONResponse
from storage.auth import KeyStore

__all__ = ["routes"]


def routes(keys: KeyStore) -> list[Route]:
    """The route; answers ``{"data": [{id, name, organization: {id, name}, metadata: {}}]}``."""

    async def projects(request: Request) -> Response:
        project = await authenticate(keys, request)
        organization = {"id": "otelfuse", "name": "otelfuse"}
        body = {"id": project.id, "name": project.name, "organization": organization}
        return JSONResponse({"data": [{**body, "metadata": {}}]})

    return [Route("/api/public/projects", projects, methods=["GET"])]
