"""Langfuse's models API over PostgreSQL custom model definitions (langfuse-anchor.md §5).

Routes (``Authorization: Basic``; everything is scoped to the key's project):

- ``GET /api/public/models?page&limit`` -> ``{"data": [Model...], "meta": {...}}``: the
  project's definitions, then the global ones (``isLangfuseManaged: true``);
- ``POST /api/public/models`` (``CreateModelRequest``) -> the created ``Model``;
- ``GET /api/public/models/{id}`` -> ``Model`` when it is the project's or global, else 404;
- ``PUT /api/public/models/{id}`` -> create or replace the project's definition with that id;
- ``DELETE /api/public/models/{id}`` -> ``{"message": ...}``; 404 for another project's or an
  unknown id, 403 for a global definition (readable by every project, changed only with the
  ``otelfuse models`` CLI).

Errors are ``{"message": ...}``: 400 invalid definition or parameter, 401 credentials, 403, 404,
409 duplicate (same modelName, startDate and unit, or an id in use), 413 body too large,
503 (+ ``Retry-After``) PostgreSQL unavailable. A created or changed definition prices
generations processed up to ``OTELFUSE_MODEL_CACHE_TTL_S`` later (the processors' cache).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from storage.auth import KeyStore, Project, Unauthenticated, authenticate_async
from storage.errors import PermanentError, RetryableError
from storage.postgres.model_defs import (
    InvalidModelDefinition,
    model_json,
    parse_model_definition,
)
from storage.postgres.models import ModelConflict, ModelRepository, ProjectMissing
from storage.query.api import JSONBody
from storage.query.params import BadRequest, parse_page

__all__ = ["MAX_MODEL_BODY_BYTES", "model_routes"]

log = logging.getLogger(__name__)

MAX_MODEL_BODY_BYTES = 1024 * 1024
"""Largest accepted model-definition body."""

Handler = Callable[[Request, Project], Awaitable[Response]]


class _PayloadTooLarge(Exception):
    pass


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONBody({"message": message}, status_code=status, headers=headers)


def _not_found(model_id: str) -> Response:
    return _error(404, f"Model {model_id[:200]} not found within authorized project")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _json_body(request: Request) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_MODEL_BODY_BYTES:
        raise _PayloadTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_MODEL_BODY_BYTES:
            raise _PayloadTooLarge
    try:  # Decimal floats: prices keep the digits the client wrote
        return json.loads(bytes(body), parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise BadRequest("the body must be a JSON object") from None


class _ModelsApi:
    def __init__(self, models: ModelRepository, keys: KeyStore) -> None:
        self.models = models
        self.keys = keys

    def guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Auth plus the error-to-status mapping."""

        async def endpoint(request: Request) -> Response:
            try:
                project = await authenticate_async(self.keys, request.headers.get("authorization"))
                return await handler(request, project)
            except Unauthenticated as exc:
                return _error(401, str(exc), {"WWW-Authenticate": 'Basic realm="otelfuse"'})
            except (BadRequest, InvalidModelDefinition) as exc:
                return _error(400, str(exc))
            except _PayloadTooLarge:
                return _error(413, f"body exceeds {MAX_MODEL_BODY_BYTES} bytes")
            except ModelConflict as exc:
                return _error(409, str(exc))
            except ProjectMissing:
                return _error(404, "project not found")
            except RetryableError as exc:
                log.warning("models API: PostgreSQL unavailable: %s", exc)
                retry_after = str(max(1, math.ceil(exc.retry_after_s)))
                return _error(503, "storage unavailable, retry later", {"Retry-After": retry_after})
            except PermanentError:
                log.exception("models API: PostgreSQL rejected the request")
                return _error(500, "internal error while reading storage")

        return endpoint

    async def list(self, request: Request, project: Project) -> Response:
        page = parse_page(request.query_params)
        rows, total = await self.models.list_visible(
            project.id, offset=page.offset, limit=page.limit
        )
        meta = {
            "page": page.page,
            "limit": page.limit,
            "totalItems": total,
            "totalPages": math.ceil(total / page.limit),
        }
        return JSONBody({"data": [model_json(m) for m in rows], "meta": meta})

    async def create(self, request: Request, project: Project) -> Response:
        definition = parse_model_definition(await _json_body(request))
        created = await self.models.create(project.id, definition)
        return JSONBody(model_json(created))

    async def get(self, request: Request, project: Project) -> Response:
        model_id = request.path_params["model_id"]
        found = await self.models.get(model_id, project.id)
        if found is None:
            return _not_found(model_id)
        return JSONBody(model_json(found))

    async def put(self, request: Request, project: Project) -> Response:
        model_id = request.path_params["model_id"]
        definition = parse_model_definition(await _json_body(request), model_id=model_id)
        stored, _ = await self.models.upsert(project.id, definition)
        return JSONBody(model_json(stored))

    async def delete(self, request: Request, project: Project) -> Response:
        model_id = request.path_params["model_id"]
        outcome = await self.models.delete(model_id, project.id)
        if outcome == "global":
            return _error(403, "global model definitions cannot be deleted through the API")
        if outcome == "missing":
            return _not_found(model_id)
        return JSONBody({"message": "Model successfully deleted"})


def model_routes(models: ModelRepository, keys: KeyStore) -> list[BaseRoute]:
    """The ``/api/public/models`` routes; mount them next to ``query_routes``."""
    api = _ModelsApi(models, keys)
    guard = api.guarded
    return [
        Route("/api/public/models", guard(api.list), methods=["GET"]),
        Route("/api/public/models", guard(api.create), methods=["POST"]),
        Route("/api/public/models/{model_id}", guard(api.get), methods=["GET"]),
        Route("/api/public/models/{model_id}", guard(api.put), methods=["PUT"]),
        Route("/api/public/models/{model_id}", guard(api.delete), methods=["DELETE"]),
    ]
