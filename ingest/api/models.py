"""Langfuse's models API over PostgreSQL custom model definitions (docs/reference/langfuse.md §5).

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
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.errors import HTTPError
from ingest.http.auth import authenticate
from ingest.http.body import read_body
from ingest.http.openapi import (
    BOOLEAN,
    STRING,
    WRITE_ERROR_TEXTS,
    DocumentedRoute,
    Operation,
    Schema,
    array,
    closed_object,
    error_responses,
    path_param,
    query_param,
)
from ingest.http.responses import JSONResponse
from storage.auth import KeyStore
from storage.errors import BadRequest
from storage.postgres.model_defs import TOKENIZERS, UNITS, model_json, parse_model_definition
from storage.postgres.models import ModelRepository, ProjectMissing
from storage.query import schemas
from storage.query.params import MAX_PAGE, parse_page

__all__ = ["MAX_MODEL_BODY_BYTES", "OPERATIONS", "Models"]

log = logging.getLogger(__name__)

MAX_MODEL_BODY_BYTES = 1024 * 1024
"""Largest accepted model-definition body."""


MODELS_PATH = "/api/public/models"
_PRICE: Schema = {"type": ["number", "null"], "minimum": 0, "exclusiveMaximum": 1_000_000}
_PRICES: Schema = {
    "type": "object",
    "additionalProperties": {"type": ["number", "null"], "minimum": 0},
    "description": "usage key -> USD per unit",
}
_CONDITION: Schema = {
    "oneOf": [
        closed_object(
            {
                "usageDetailPattern": STRING,
                "operator": {"enum": ["gt", "gte", "lt", "lte", "eq", "neq"]},
                "value": {"type": "number"},
                "caseSensitive": BOOLEAN,
            },
            required=("usageDetailPattern", "operator", "value"),
        ),
        closed_object(
            {
                "source": {"enum": ["model_parameters", "metadata"]},
                "key": STRING,
                "operator": {"const": "in"},
                "values": {**array(STRING), "minItems": 1},
            },
            required=("source", "key", "values"),
        ),
    ]
}
_CREATE_BODY: Schema = {
    "type": "object",
    "description": (
        "Langfuse's CreateModelRequest (pricingTiers, or the legacy flat prices: inputPrice / "
        "outputPrice / totalPrice, or prices); otelfuse also takes an id"
    ),
    "required": ["modelName", "matchPattern"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
        "modelName": {"type": "string", "minLength": 1},
        "matchPattern": {"type": "string", "minLength": 1, "description": "regular expression"},
        "startDate": {"type": ["string", "null"], "format": "date-time"},
        "unit": {"enum": [*UNITS, None]},
        "inputPrice": _PRICE,
        "outputPrice": _PRICE,
        "totalPrice": _PRICE,
        "prices": {"type": ["object", "null"], "description": "usage key -> USD per unit"},
        "tokenizerId": {"enum": [*TOKENIZERS, None]},
        "tokenizerConfig": {"type": ["object", "null"]},
        "pricingTiers": {
            "type": ["array", "null"],
            "items": closed_object(
                {
                    "name": {"type": "string", "minLength": 1},
                    "isDefault": BOOLEAN,
                    "priority": {"type": "integer", "minimum": 0},
                    "conditions": array(_CONDITION),
                    "prices": _PRICES,
                },
                required=("name", "priority", "prices"),
            ),
        },
    },
}
_BODY: Schema = {"required": True, "content": {"application/json": {"schema": _CREATE_BODY}}}
_ID = path_param("id", "model definition id")


def _errors(*codes: str) -> dict[str, tuple[type[schemas.Error], str]]:
    texts = {**WRITE_ERROR_TEXTS, "403": "a global definition", "409": "duplicate definition"}
    return error_responses(codes, texts)


OPERATIONS = {
    "list": Operation(
        "get",
        MODELS_PATH,
        "The project's model definitions, then the global ones",
        {"200": (schemas.Models, "one page"), **_errors("400", "401", "500", "503")},
        [
            query_param("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page"),
            query_param(
                "limit", {"type": "integer", "minimum": 1, "maximum": 100}, "items per page"
            ),
        ],
    ),
    "create": Operation(
        "post",
        MODELS_PATH,
        "Create a model definition in the caller's project",
        {
            "200": (schemas.Model, "the created definition"),
            **_errors("400", "401", "404", "409", "413", "415", "500", "503"),
        },
        request_body=_BODY,
    ),
    "get": Operation(
        "get",
        f"{MODELS_PATH}/{{id}}",
        "One model definition of the caller's project, or a global one",
        {"200": (schemas.Model, "the definition"), **_errors("401", "404", "500", "503")},
        [_ID],
    ),
    "put": Operation(
        "put",
        f"{MODELS_PATH}/{{id}}",
        "Create or replace the caller's definition with this id",
        {
            "200": (schemas.Model, "the stored definition"),
            **_errors("400", "401", "404", "409", "413", "415", "500", "503"),
        },
        [_ID],
        request_body=_BODY,
    ),
    "delete": Operation(
        "delete",
        f"{MODELS_PATH}/{{id}}",
        "Delete the caller's definition (a global one is 403)",
        {
            "200": (schemas.Message, "deleted"),
            **_errors("401", "403", "404", "500", "503"),
        },
        [_ID],
    ),
}
"""The documented operations, by handler name."""


def _not_found(model_id: str) -> HTTPError:
    return HTTPError(404, f"Model {model_id[:200]} not found within authorized project")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _json_body(request: Request) -> Any:
    body = await read_body(request, MAX_MODEL_BODY_BYTES)
    try:  # Decimal floats: prices keep the digits the client wrote
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise BadRequest("the body must be a JSON object") from None


class Models:
    """The ``/api/public/models`` routes over PostgreSQL model definitions."""

    def __init__(self, models: ModelRepository, keys: KeyStore) -> None:
        self.models = models
        self.keys = keys

    def routes(self) -> list[Route]:
        """List, create, get, replace and delete."""
        item = f"{MODELS_PATH}/{{id}}"
        return [
            DocumentedRoute(MODELS_PATH, self.list, OPERATIONS["list"]),
            DocumentedRoute(MODELS_PATH, self.create, OPERATIONS["create"]),
            DocumentedRoute(item, self.get, OPERATIONS["get"]),
            DocumentedRoute(item, self.put, OPERATIONS["put"]),
            DocumentedRoute(item, self.delete, OPERATIONS["delete"]),
        ]

    async def list(self, request: Request) -> Response:
        """The project's definitions, then the global ones."""
        project = await authenticate(self.keys, request)
        page = parse_page(request.query_params)
        rows, total = await self.models.list_visible(
            project.id, offset=page.offset, limit=page.limit
        )
        return JSONResponse({"data": [model_json(m) for m in rows], "meta": page.meta(total)})

    async def create(self, request: Request) -> Response:
        """Create a definition in the caller's project."""
        project = await authenticate(self.keys, request)
        definition = parse_model_definition(await _json_body(request))
        try:
            created = await self.models.create(project.id, definition)
        except ProjectMissing:
            raise HTTPError(404, "project not found") from None
        return JSONResponse(model_json(created))

    async def get(self, request: Request) -> Response:
        """One definition of the caller's project, or a global one."""
        project = await authenticate(self.keys, request)
        model_id = request.path_params["id"]
        found = await self.models.get(model_id, project.id)
        if found is None:
            raise _not_found(model_id)
        return JSONResponse(model_json(found))

    async def put(self, request: Request) -> Response:
        """Create or replace the caller's definition with that id."""
        project = await authenticate(self.keys, request)
        model_id = request.path_params["id"]
        definition = parse_model_definition(await _json_body(request), model_id=model_id)
        try:
            stored, _ = await self.models.upsert(project.id, definition)
        except ProjectMissing:
            raise HTTPError(404, "project not found") from None
        return JSONResponse(model_json(stored))

    async def delete(self, request: Request) -> Response:
        """Delete the caller's definition; a global one is 403."""
        project = await authenticate(self.keys, request)
        model_id = request.path_params["id"]
        outcome = await self.models.delete(model_id, project.id)
        if outcome == "global":
            raise HTTPError(403, "global model definitions cannot be deleted through the API")
        if outcome == "missing":
            raise _not_found(model_id)
        return JSONResponse({"message": "Model successfully deleted"})
