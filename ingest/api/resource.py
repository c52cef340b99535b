"""What every read resource of the Langfuse API shares: the read model and the key store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ingest.errors import HTTPError
from ingest.http.auth import authenticate
from ingest.http.responses import JSONResponse
from storage.auth import KeyStore, Project
from storage.blobs.claim_check import FieldResolver
from storage.query.params import PageRequest, parse_page
from storage.query.repository import Page, Repository, Row
from storage.query.values import QueryParams

__all__ = ["ReadResource"]

F = TypeVar("F")
T = TypeVar("T")


class ReadResource:
    """Routes reading ``repo`` for the project of the caller's key (``keys``); with
    ``fields``, offloaded fields in their responses are resolved (``resolve``)."""

    def __init__(
        self, repo: Repository, keys: KeyStore, *, fields: FieldResolver | None = None
    ) -> None:
        self.repo = repo
        self.keys = keys
        self.fields = fields

    async def resolve(self, project: Project, response: Any, *, parse_json: bool = True) -> Any:
        """``response`` with its offloaded fields replaced by their values (in place), when
        this resource has a resolver (``storage.blobs.claim_check.FieldResolver``);
        ``parse_json`` as there.

        Raises:
            RetryableError: the blob store is unavailable (503).
        """
        if self.fields is not None:
            await self.fields.resolve(project.id, response, parse_json=parse_json)
        return response

    async def project(self, request: Request) -> Project:
        """The caller's project.

        Raises:
            Unauthenticated, HTTPError: as ``ingest.http.auth.authenticate``.
        """
        return await authenticate(self.keys, request)

    async def page(
        self,
        request: Request,
        parse_filter: Callable[[QueryParams], F],
        read: Callable[[Repository, str, F, PageRequest], Page],
        shape: Callable[[Row], dict[str, Any]],
    ) -> Response:
        """A Langfuse page-paginated list: ``{"data": [shape(row)...], "meta": {page, limit,
        totalItems, totalPages}}`` of ``read(repo, project, parse_filter(query), page)``, run
        in a worker thread.

        Raises:
            BadRequest: a query parameter is invalid; and what ``project`` raises.
        """
        project = await self.project(request)
        page = parse_page(request.query_params)
        flt = parse_filter(request.query_params)
        result = await run_in_threadpool(read, self.repo, project.id, flt, page)
        data = [shape(row) for row in result.rows]
        await self.resolve(project, data)
        return JSONResponse({"data": data, "meta": page.meta(result.total)})

    async def one(
        self,
        request: Request,
        noun: str,
        read: Callable[[Repository, str, str], T | None],
        shape: Callable[[T], dict[str, Any]],
    ) -> Response:
        """``shape`` of ``read(repo, project, id)``, the id being the route's only path
        parameter; 404 ``"<noun> <id> not found within authorized project"`` (Langfuse's
        message) when ``read`` finds nothing in the caller's project.

        Raises:
            HTTPError: 404; and what ``project`` raises.
        """
        project = await self.project(request)
        (item_id,) = request.path_params.values()
        found = await run_in_threadpool(read, self.repo, project.id, item_id)
        if found is None:
            raise HTTPError(404, f"{noun} {item_id} not found within authorized project")
        return JSONResponse(await self.resolve(project, shape(found)))
