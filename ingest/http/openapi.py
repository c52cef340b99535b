"""The OpenAPI 3.1 document of a role, assembled from the routes it mounts.

Every documented route is a ``DocumentedRoute``: a Starlette ``Route`` that carries its
``Operation`` (method, path, summary, parameters, responses). The module that serves a route
declares its operation next to it (``ingest.api.*``, ``ingest.otlp.http_receiver``, health,
OpenAPI and metrics in ``ingest.http.app``), and ``openapi_document(routes)`` collects them, so
a role documents exactly what it serves: the receiver its writes, the query role its reads, the
all-in-one process both.

Response bodies are the ``msgspec`` models of ``storage.query.schemas`` that the shaping
functions fill; their component schemas are generated (``schemas.component_schemas``), closed
(``additionalProperties: false``) and list exactly the keys the shapes emit, so a
schema-conformance checker (schemathesis) catches drift. Request schemas (the ``filter`` and
metrics ``query`` parameters, request bodies) are declared by the operations that use them
(``Operation.schemas``), derived from the constants the parsers use.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.routing import BaseRoute, Route

from storage.query.schemas import Error, component_schemas

__all__ = [
    "ANY",
    "BOOLEAN",
    "ERROR_TEXTS",
    "OPENAPI_PATH",
    "STRING",
    "TIME_IN",
    "WRITE_ERROR_TEXTS",
    "DocumentedRoute",
    "Operation",
    "Schema",
    "array",
    "closed_object",
    "error_responses",
    "json_param",
    "json_response",
    "openapi_document",
    "path_param",
    "query_param",
    "read",
    "ref",
]

OPENAPI_PATH = "/api/public/openapi.json"

Schema = dict[str, Any]
Model = type[msgspec.Struct]
Body = Model | Schema
"""A JSON response body: a response model (referenced as a component) or a literal schema."""

ANY: Schema = {}
STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
TIME_IN: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(19|2[0-2])[0-9][0-9]-",
    "description": "ISO-8601 / RFC 3339, years 1900..2299 (the range of DateTime64)",
}


def closed_object(properties: Mapping[str, Schema], required: Any = "all") -> Schema:
    """A closed object; ``required="all"`` requires every property."""
    keys = list(properties) if required == "all" else list(required)
    return {
        "type": "object",
        "properties": dict(properties),
        "required": keys,
        "additionalProperties": False,
    }


def array(items: Schema) -> Schema:
    """An array of ``items``."""
    return {"type": "array", "items": items}


def ref(name: str) -> Schema:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(body: Body, description: str) -> Schema:
    """An OpenAPI response object with an ``application/json`` body."""
    schema = ref(body.__name__) if isinstance(body, type) else body
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR_TEXTS: dict[str, str] = {
    "400": "invalid parameter",
    "401": "missing or invalid Basic credentials",
    "404": "not found in the caller's project",
    "500": "storage rejected the query",
    "503": "storage unavailable; retry after Retry-After seconds",
}
"""Descriptions of the read API's error statuses (bodies: ``schemas.Error``)."""

WRITE_ERROR_TEXTS: dict[str, str] = {
    "400": "invalid parameter or body (the message names it)",
    "401": "missing or invalid Basic credentials",
    "404": "not found in the caller's project",
    "413": "body too large",
    "415": "unsupported Content-Encoding",
    "500": "storage rejected the data or the query",
    "503": "storage unavailable or queue full; retry after Retry-After",
}
"""Descriptions of the error statuses of routes that also take a body (scores, ingestion)."""


def error_responses(codes: Iterable[str], texts: Mapping[str, str] = ERROR_TEXTS) -> dict[str, Any]:
    """``{code: (Error, texts[code])}`` for ``Operation.responses``."""
    return {code: (Error, texts[code]) for code in codes}


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented route.

    ``responses`` maps a status code to ``(body, description)`` (``body`` a response model of
    ``storage.query.schemas`` or a literal JSON schema) or to a complete OpenAPI response
    object (other media types). ``public`` operations need no credentials. ``schemas`` are the
    component schemas the operation's parameters and request body reference; an entry whose
    name is also a generated response model is merged into it (e.g. a longer description).
    """

    method: str
    path: str
    summary: str
    responses: Mapping[str, tuple[Body, str] | Schema]
    parameters: Sequence[Schema] = ()
    request_body: Schema | None = None
    public: bool = False
    schemas: Mapping[str, Schema] = field(default_factory=dict)
    models: tuple[Model, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        found = [b for b, _ in self._json_bodies() if isinstance(b, type)]
        object.__setattr__(self, "models", tuple(found))

    def _json_bodies(self) -> list[tuple[Body, str]]:
        return [r for r in self.responses.values() if isinstance(r, tuple)]

    def item(self) -> Schema:
        """The OpenAPI operation object."""
        operation: Schema = {"summary": self.summary}
        if self.public:
            operation["security"] = []
        if self.parameters:
            operation["parameters"] = [copy.deepcopy(p) for p in self.parameters]
        if self.request_body is not None:
            operation["requestBody"] = copy.deepcopy(self.request_body)
        operation["responses"] = {
            code: json_response(*r) if isinstance(r, tuple) else copy.deepcopy(r)
            for code, r in self.responses.items()
        }
        return operation


def read(
    path: str,
    summary: str,
    model: Model,
    parameters: Sequence[Schema] = (),
    *,
    not_found: bool = False,
    schemas: Mapping[str, Schema] | None = None,
) -> Operation:
    """A read route (``GET``): 200 ``model``, or 400/401/500/503 (and 404 with ``not_found``)."""
    codes = ("400", "401", "500", "503", *(("404",) if not_found else ()))
    responses = {"200": (model, "success"), **error_responses(codes)}
    return Operation("get", path, summary, responses, parameters, schemas=schemas or {})


def query_param(name: str, schema: Schema, description: str, *, repeat: bool = False) -> Schema:
    """An optional query parameter; ``repeat``: an array given as ``name=a&name=b``."""
    param = {
        "name": name,
        "in": "query",
        "required": False,
        "schema": array(STRING) if repeat else schema,
        "description": description,
    }
    return {**param, "style": "form", "explode": True} if repeat else param


def path_param(name: str, description: str) -> Schema:
    """A path parameter: any text without ``/`` (it would leave the route), not ``.``/``..``."""
    schema = {"type": "string", "minLength": 1, "pattern": r"^[^/.][^/]*$"}
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


def json_param(name: str, schema: str, description: str, *, required: bool) -> Schema:
    """A query parameter holding JSON that follows the component schema ``schema``."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "content": {"application/json": {"schema": ref(schema)}},
    }


class DocumentedRoute(Route):
    """A route with its ``Operation``; its method is the operation's."""

    def __init__(self, path: str, endpoint: Callable[..., Any], operation: Operation) -> None:
        super().__init__(path, endpoint, methods=[operation.method.upper()])
        self.operation = operation


def openapi_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The document of the ``DocumentedRoute``s among ``routes`` (others are left out).

    Raises:
        ValueError: two routes describe the same method of a path, or two operations define a
            request schema differently.
    """
    paths: dict[str, Schema] = {}
    models: dict[Model, None] = {}
    extra: dict[str, Schema] = {}
    for route in routes:
        if not isinstance(route, DocumentedRoute):
            continue
        op = route.operation
        target = paths.setdefault(op.path, {})
        if op.method in target:
            raise ValueError(f"OpenAPI: {op.method.upper()} {op.path} is already described")
        target[op.method] = op.item()
        models.update(dict.fromkeys(op.models))
        for name, schema in op.schemas.items():
            if extra.get(name, schema) != schema:
                raise ValueError(f"OpenAPI: component schema {name} is defined twice")
            extra[name] = schema
    schemas = component_schemas(models)
    for name, schema in extra.items():
        schemas[name] = {**schemas.get(name, {}), **copy.deepcopy(schema)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "otelfuse",
            "version": "0.1.0",
            "description": "OTLP ingestion and a Langfuse-compatible public read API. Every"
            " authenticated route is scoped to the project of the Basic-auth key pair.",
        },
        "security": [{"basicAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "public key : secret key",
                }
            },
            "schemas": dict(sorted(schemas.items())),
        },
    }
