"""Langfuse's prompt management API over PostgreSQL (langfuse/langfuse
``fern/apis/server/definition/prompts.yml`` and ``prompt-version.yml``; behaviour and messages
from ``web/src/features/prompts/server/handlers/{promptsHandler,promptNameHandler,
promptVersionHandler}.ts`` and ``web/src/pages/api/public/v2/prompts/[...promptName].ts``).

Routes (``Authorization: Basic``; everything is scoped to the key's project):

- ``POST /api/public/v2/prompts`` (text or chat prompt, body rules:
  ``storage.postgres.prompt_defs``) -> 201 ``Prompt``: the next version of that name, labelled
  ``latest``;
- ``GET /api/public/v2/prompts/{promptName}?version|label`` -> ``Prompt``; neither given: the
  ``production`` label; both: 400 ``Cannot specify both version and label``; missing: 404
  ``Prompt not found: '<name>' with version N`` / ``with label '<label>'``;
- ``GET /api/public/v2/prompts?name&label&tag&version&page&limit&fromUpdatedAt&toUpdatedAt`` ->
  ``PromptMetaList`` (``limit`` 1..100, default 10, as Langfuse);
- ``PATCH /api/public/v2/prompts/{name}/versions/{version}`` ``{"newLabels": [...]}`` ->
  ``Prompt`` with the labels added (and moved off the other versions); 404 ``Prompt not found:
  <name>``;
- ``DELETE /api/public/v2/prompts/{promptName}?version|label`` -> 204: all versions, one
  version, or the versions with that label; 404 ``Prompt not found``.

A prompt name may contain ``/`` (folders): clients send it URL-encoded (``%2F``, what the
Langfuse SDKs do) or as plain path segments, as Langfuse's catch-all route accepts; a PATCH
path ends in ``/versions/{version}``. Errors are ``{"message": ...}``: 400 invalid parameter or
body, 401, 404, 413 body too large, 503 (+ ``Retry-After``) PostgreSQL unavailable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.errors import HTTPError
from ingest.http.auth import authenticate
from ingest.http.body import read_body
from ingest.http.openapi import (
    STRING,
    TIME_IN,
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
from storage.postgres.prompt_defs import (
    LABEL_PATTERN,
    NAME_MAX,
    PRODUCTION,
    parse_new_labels,
    parse_prompt_definition,
    prompt_json,
    prompt_meta_json,
)
from storage.postgres.prompts import PromptFilter, PromptRepository
from storage.query import schemas
from storage.query.params import MAX_PAGE, PageRequest, int_param, str_param, time_param
from storage.query.values import QueryParams

__all__ = ["MAX_PROMPT_BODY_BYTES", "OPERATIONS", "PROMPTS_PATH", "Prompts"]

PROMPTS_PATH = "/api/public/v2/prompts"
MAX_PROMPT_BODY_BYTES = 4 * 1024 * 1024
"""Largest prompt body (4 MiB; the server's ``OTELFUSE_MAX_REQUEST_BYTES`` when smaller)."""
_MAX_VERSION = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")
_DEFAULT_LIMIT = 10

_VERSION: Schema = {"type": "integer", "minimum": 1, "maximum": _MAX_VERSION}
_LABEL: Schema = {"type": "string", "minLength": 1, "maxLength": 36, "pattern": LABEL_PATTERN}
_NAME = path_param("promptName", "prompt name, URL-encoded (a folder's / as %2F)")
_MESSAGE: Schema = {
    "oneOf": [
        closed_object({"role": STRING, "content": STRING}),
        closed_object(
            {
                "type": {"const": "placeholder"},
                "name": {"type": "string", "pattern": "^[a-zA-Z][a-zA-Z0-9_]*$"},
            }
        ),
    ]
}
_COMMON_FIELDS: Schema = {
    "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
    "labels": array(_LABEL),
    "tags": {"type": ["array", "null"], "items": STRING},
    "config": {},
    "commitMessage": {"type": ["string", "null"], "maxLength": 500},
}
_CREATE_BODY: Schema = {
    "oneOf": [
        closed_object(
            {**_COMMON_FIELDS, "type": {"const": "text"}, "prompt": STRING},
            required=("name", "prompt"),
        ),
        closed_object(
            {**_COMMON_FIELDS, "type": {"const": "chat"}, "prompt": array(_MESSAGE)},
            required=("name", "type", "prompt"),
        ),
    ]
}


def _errors(*codes: str) -> dict[str, tuple[type[schemas.Error], str]]:
    return error_responses(codes, WRITE_ERROR_TEXTS)


def _json_body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


OPERATIONS = {
    "create": Operation(
        "post",
        PROMPTS_PATH,
        "Create the next version of a prompt",
        {
            "201": (schemas.Prompt, "the created version"),
            **_errors("400", "401", "404", "413", "415", "500", "503"),
        },
        request_body=_json_body(_CREATE_BODY),
    ),
    "list": Operation(
        "get",
        PROMPTS_PATH,
        "Prompt names with their versions and labels",
        {"200": (schemas.PromptMetaList, "one page"), **_errors("400", "401", "500", "503")},
        [
            query_param("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page"),
            query_param(
                "limit", {"type": "integer", "minimum": 1, "maximum": 100}, "items per page"
            ),
            query_param("name", STRING, "prompt name"),
            query_param("label", STRING, "versions with this label"),
            query_param("tag", STRING, "prompts with this tag"),
            query_param("version", _VERSION, "version number"),
            query_param("fromUpdatedAt", TIME_IN, "versions updated at or after"),
            query_param("toUpdatedAt", TIME_IN, "versions updated before"),
        ],
    ),
    "get": Operation(
        "get",
        f"{PROMPTS_PATH}/{{promptName}}",
        "One prompt version, by version or label (default production)",
        {"200": (schemas.Prompt, "the version"), **_errors("400", "401", "404", "500", "503")},
        [
            _NAME,
            query_param("version", _VERSION, "version number"),
            query_param("label", STRING, "label (default production)"),
        ],
    ),
    "update": Operation(
        "patch",
        f"{PROMPTS_PATH}/{{name}}/versions/{{version}}",
        "Add labels to a prompt version",
        {
            "200": (schemas.Prompt, "the version with its labels"),
            **_errors("400", "401", "404", "413", "415", "500", "503"),
        },
        [
            path_param("name", "prompt name, URL-encoded (a folder's / as %2F)"),
            {"name": "version", "in": "path", "required": True, "schema": _VERSION},
        ],
        request_body=_json_body(closed_object({"newLabels": array(_LABEL)})),
    ),
    "delete": Operation(
        "delete",
        f"{PROMPTS_PATH}/{{promptName}}",
        "Delete all versions of a prompt, one version, or the versions with a label",
        {"204": {"description": "deleted"}, **_errors("400", "401", "404", "500", "503")},
        [
            _NAME,
            query_param("version", _VERSION, "only this version"),
            query_param("label", STRING, "only the versions with this label"),
        ],
    ),
}
"""The documented operations, by handler name."""


def _version(params: QueryParams) -> int | None:
    if not params.get("version"):
        return None
    return int_param(params, "version", 0, 1, _MAX_VERSION)


def _text(params: QueryParams, name: str) -> str | None:
    value = str_param(params, name)
    if value is not None and "\x00" in value:
        raise BadRequest(f"{name} cannot contain NUL")
    return value


def _version_or_label(params: QueryParams) -> tuple[int | None, str | None]:
    version, label = _version(params), _text(params, "label")
    if version is not None and label is not None:
        raise BadRequest("Cannot specify both version and label")
    return version, label


def _moment(params: QueryParams, name: str) -> datetime | None:
    us = time_param(params, name)
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC)


class Prompts:
    """The ``/api/public/v2/prompts`` routes over ``PromptRepository`` (module docstring).

    Args:
        prompts: the project's prompts in PostgreSQL.
        keys: API keys (Basic auth, project-scoped).
        max_request_bytes: the server's body limit (capped at ``MAX_PROMPT_BODY_BYTES``).
    """

    def __init__(self, prompts: PromptRepository, keys: KeyStore, max_request_bytes: int) -> None:
        self._prompts = prompts
        self._keys = keys
        self._limit = min(max_request_bytes, MAX_PROMPT_BODY_BYTES)

    def routes(self) -> list[Route]:
        """Create, list, update labels, get and delete (the PATCH route before the catch-all
        name routes, so ``.../versions/N`` reaches it)."""
        named = f"{PROMPTS_PATH}/{{prompt_name:path}}"
        return [
            DocumentedRoute(PROMPTS_PATH, self.create, OPERATIONS["create"]),
            DocumentedRoute(PROMPTS_PATH, self.list, OPERATIONS["list"]),
            DocumentedRoute(
                f"{PROMPTS_PATH}/{{name:path}}/versions/{{version}}",
                self.update,
                OPERATIONS["update"],
            ),
            DocumentedRoute(named, self.get, OPERATIONS["get"]),
            DocumentedRoute(named, self.delete, OPERATIONS["delete"]),
        ]

    async def create(self, request: Request) -> Response:
        """Store the next version of the body's prompt.

        Raises:
            BadRequest: invalid body or a type change; HTTPError: 404 unknown project; and
                what ``authenticate`` and ``read_body`` raise.
        """
        project = await authenticate(self._keys, request)
        definition = parse_prompt_definition(await read_body(request, self._limit))
        created = await self._prompts.create_definition(project.id, definition)
        return JSONResponse(prompt_json(created), status_code=201)

    async def list(self, request: Request) -> Response:
        """One page of prompt names matching the filters."""
        project = await authenticate(self._keys, request)
        params = request.query_params
        page = PageRequest(
            page=int_param(params, "page", 1, 1, MAX_PAGE, show_range=False),
            limit=int_param(params, "limit", _DEFAULT_LIMIT, 1, 100),
        )
        where = PromptFilter(
            name=_text(params, "name"),
            version=_version(params),
            label=_text(params, "label"),
            tag=_text(params, "tag"),
            from_updated_at=_moment(params, "fromUpdatedAt"),
            to_updated_at=_moment(params, "toUpdatedAt"),
        )
        rows, total = await self._prompts.list_meta(
            project.id, where, offset=page.offset, limit=page.limit
        )
        meta = page.meta(total)
        body = {"data": [prompt_meta_json(r) for r in rows], "meta": meta, "pagination": meta}
        return JSONResponse(body)

    async def get(self, request: Request) -> Response:
        """One version by ``version``, or by ``label`` (default ``production``)."""
        project = await authenticate(self._keys, request)
        name = request.path_params["prompt_name"]
        version, label = _version_or_label(request.query_params)
        found = None
        if "\x00" not in name:
            found = await self._prompts.get(project.id, name, version=version, label=label)
        if found is None:
            wanted = f"with version {version}" if version else f"with label '{label or PRODUCTION}'"
            raise HTTPError(404, f"Prompt not found: '{name}' {wanted}")
        return JSONResponse(prompt_json(found))

    async def update(self, request: Request) -> Response:
        """Add ``newLabels`` to one version."""
        project = await authenticate(self._keys, request)
        name = request.path_params["name"]
        raw_version = request.path_params["version"]
        version = int(raw_version) if _DIGITS.fullmatch(raw_version) else 0
        if not 1 <= version <= _MAX_VERSION:
            raise BadRequest(f"version must be an integer between 1 and {_MAX_VERSION}")
        labels = parse_new_labels(await read_body(request, self._limit))
        updated = None
        if "\x00" not in name:
            updated = await self._prompts.add_labels(project.id, name, version, labels)
        if updated is None:
            raise HTTPError(404, f"Prompt not found: {name}")
        return JSONResponse(prompt_json(updated))

    async def delete(self, request: Request) -> Response:
        """Delete all versions, one version or the versions with a label."""
        project = await authenticate(self._keys, request)
        name = request.path_params["prompt_name"]
        version, label = _version_or_label(request.query_params)
        deleted = 0
        if "\x00" not in name:
            deleted = await self._prompts.delete(project.id, name, version=version, label=label)
        if not deleted:
            raise HTTPError(404, "Prompt not found")
        return Response(status_code=204)
