"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /api/public/openapi.json``.

It describes exactly the routes an all-in-one otelfuse serves: the public read API of
``storage.query.api`` (docs/reference/langfuse.md §5), health, projects, the OTLP/HTTP receivers
(``POST /v1/traces``, ``POST /api/public/otel/v1/traces``) and Prometheus ``GET /metrics``.

How it is built: each route is one ``Operation`` (method, path, summary, parameters, and its
responses as ``(model, description)``); the response models are the ``msgspec`` Structs of
``storage.query.schemas`` that the shaping functions build, and ``path_items`` turns operations
into path items plus the component schemas of every model they reference
(``schemas.component_schemas``). Response schemas are therefore closed
(``additionalProperties: false``) and list exactly the keys the shaping functions emit, so a
schema-conformance checker (schemathesis) catches drift. Request schemas (the ``filter`` and
metrics ``query`` parameters) are derived from the same constants the parsers use.

Extension point: routes mounted by other modules (the scores API: ``POST /api/public/scores``,
``GET /api/public/v2/scores``, ``POST /api/public/ingestion``) add their path items and
component schemas with ``openapi_document(extra_paths, extra_schemas)``; ``query_routes``
forwards its ``openapi_paths``/``openapi_schemas`` arguments here. Path items of a path that is
already described are merged method by method; a component schema equal to one already defined
(a model shared with the base document, e.g. ``PageMeta``) is accepted as is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from storage.query.deletion import MAX_TRACE_IDS
from storage.query.filter_columns import OBSERVATION_FILTERS, TRACE_FILTERS
from storage.query.filters import MAX_CONDITIONS, OPERATORS
from storage.query.metrics import AGGREGATIONS, GRANULARITIES, MAX_DIMENSIONS, MAX_METRICS
from storage.query.metrics_views import VIEWS_V1, VIEWS_V2, View
from storage.query.observations_v2 import FIELD_GROUPS, MAX_LIMIT
from storage.query.params import MAX_PAGE, TRACE_ORDER_FIELDS
from storage.query.schemas import (
    DailyMetrics,
    Error,
    Health,
    Message,
    MetricsResponse,
    ObservationsV2Response,
    ObservationsView,
    ObservationsViews,
    Projects,
    Sessions,
    SessionWithTraces,
    Traces,
    TraceWithFullDetails,
    component_schemas,
)

__all__ = [
    "OPENAPI_PATH",
    "Operation",
    "error_responses",
    "json_response",
    "openapi_document",
    "path_items",
    "path_param",
    "query_param",
    "read",
]

OPENAPI_PATH = "/api/public/openapi.json"

Schema = dict[str, Any]
Model = type[msgspec.Struct]
Body = Model | Schema
"""A JSON response body: a response model (referenced as a component) or a literal schema."""

# ---- schema helpers ---------------------------------------------------------------------------

ANY: Schema = {}
STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
TIME_IN: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(19|2[0-2])[0-9][0-9]-",
    "description": "ISO-8601 / RFC 3339, years 1900..2299 (the range of DateTime64)",
}


def _obj(properties: Mapping[str, Schema], required: Any = "all") -> Schema:
    """A closed object; ``required="all"`` requires every property."""
    keys = list(properties) if required == "all" else list(required)
    return {
        "type": "object",
        "properties": dict(properties),
        "required": keys,
        "additionalProperties": False,
    }


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


# ---- operations ---------------------------------------------------------------------------------


def json_response(body: Body, description: str) -> Schema:
    """An OpenAPI response object with an ``application/json`` body."""
    schema = _ref(body.__name__) if isinstance(body, type) else body
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR_TEXTS: dict[str, str] = {
    "400": "invalid parameter",
    "401": "missing or invalid Basic credentials",
    "404": "not found in the caller's project",
    "500": "storage rejected the query",
    "503": "storage unavailable; retry after Retry-After seconds",
}
"""Descriptions of the read API's error statuses (bodies: ``schemas.Error``)."""


def error_responses(codes: Iterable[str], texts: Mapping[str, str] = ERROR_TEXTS) -> dict[str, Any]:
    """``{code: (Error, texts[code])}`` for ``Operation.responses``."""
    return {code: (Error, texts[code]) for code in codes}


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented route.

    ``responses`` maps a status code to ``(body, description)`` (``body`` a response model of
    ``storage.query.schemas`` or a literal JSON schema) or to a complete OpenAPI response
    object (other media types). ``public`` operations need no credentials.
    """

    method: str
    path: str
    summary: str
    responses: Mapping[str, tuple[Body, str] | Schema]
    parameters: Sequence[Schema] = ()
    request_body: Schema | None = None
    public: bool = False
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
) -> Operation:
    """A read route (``GET``): 200 ``model``, or 400/401/500/503 (and 404 with ``not_found``)."""
    codes = ("400", "401", "500", "503", *(("404",) if not_found else ()))
    responses = {"200": (model, "success"), **error_responses(codes)}
    return Operation("get", path, summary, responses, parameters)


def path_items(operations: Iterable[Operation]) -> tuple[dict[str, Schema], dict[str, Schema]]:
    """The path items of ``operations`` (in order; methods of a path grouped) and the component
    schemas of every response model they reference.

    Raises:
        ValueError: two operations describe the same method of a path.
    """
    paths: dict[str, Schema] = {}
    models: dict[Model, None] = {}
    for op in operations:
        target = paths.setdefault(op.path, {})
        if op.method in target:
            raise ValueError(f"OpenAPI: {op.method.upper()} {op.path} is already described")
        target[op.method] = op.item()
        models.update(dict.fromkeys(op.models))
    return paths, component_schemas(models)


def query_param(name: str, schema: Schema, description: str, *, repeat: bool = False) -> Schema:
    """An optional query parameter; ``repeat``: an array given as ``name=a&name=b``."""
    param = {
        "name": name,
        "in": "query",
        "required": False,
        "schema": _array(STRING) if repeat else schema,
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


def _json_param(name: str, schema: str, description: str, *, required: bool) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
    }


# ---- request schemas (the filter and metrics query parameters) ----------------------------------


def _filter_condition(columns: Iterable[str]) -> Schema:
    """One filter condition over ``columns`` (docs/reference/langfuse.md §5 "Filter JSON")."""
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(OPERATORS)},
            "column": {"type": "string", "enum": sorted(columns)},
            "operator": {
                "type": "string",
                "enum": sorted({op for ops in OPERATORS.values() for op in ops}),
            },
            "value": ANY,
            "key": STRING,
        },
        "required": ["type", "column", "operator"],
        "additionalProperties": False,
    }


def _filter_array(columns: Iterable[str]) -> Schema:
    return {**_array(_filter_condition(columns)), "maxItems": MAX_CONDITIONS}


def _metrics_view_query(view: View) -> Schema:
    """The query object for one view: its dimensions, measures and filter columns."""
    filter_columns = [*view.dimensions, *view.time_names]
    if view.metadata is not None:
        filter_columns.append("metadata")
    return _obj(
        {
            "view": {"type": "string", "const": view.name},
            "dimensions": {
                **_array(_obj({"field": {"type": "string", "enum": sorted(view.dimensions)}})),
                "maxItems": MAX_DIMENSIONS,
            },
            "metrics": {
                **_array(
                    _obj(
                        {
                            "measure": {"type": "string", "enum": sorted(view.measures)},
                            "aggregation": {"type": "string", "enum": list(AGGREGATIONS)},
                        }
                    )
                ),
                "minItems": 1,
                "maxItems": MAX_METRICS,
            },
            "filters": _filter_array(filter_columns),
            "timeDimension": {
                "oneOf": [
                    {"type": "null"},
                    _obj({"granularity": {"type": "string", "enum": ["auto", *GRANULARITIES]}}),
                ]
            },
            "fromTimestamp": TIME_IN,
            "toTimestamp": TIME_IN,
            "orderBy": {
                "oneOf": [
                    {"type": "null"},
                    _array(
                        _obj(
                            {
                                "field": STRING,
                                "direction": {"type": "string", "enum": ["asc", "desc"]},
                            }
                        )
                    ),
                ]
            },
            "config": _obj(
                {
                    "bins": {"type": "integer", "minimum": 1, "maximum": 100},
                    "row_limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                required=(),
            ),
        },
        required=("view", "metrics", "fromTimestamp", "toTimestamp"),
    )


def _metrics_query(views: Mapping[str, View]) -> Schema:
    return {
        "description": "A metrics query (docs/reference/langfuse.md §5): fromTimestamp <"
        " toTimestamp;"
        " responses key dimensions by field, the time bucket as time_dimension and metrics as"
        " <aggregation>_<measure>.",
        "oneOf": [_metrics_view_query(v) for _, v in sorted(views.items())],
    }


def _request_schemas() -> dict[str, Schema]:
    return {
        "TraceFilter": _filter_array(TRACE_FILTERS.columns),
        "ObservationFilter": _filter_array(OBSERVATION_FILTERS.columns),
        "MetricsQuery": _metrics_query(VIEWS_V1),
        "MetricsQueryV2": _metrics_query(VIEWS_V2),
        "DeleteTracesRequest": _obj(
            {
                "traceIds": {
                    **_array({"type": "string", "minLength": 1}),
                    "minItems": 1,
                    "maxItems": MAX_TRACE_IDS,
                }
            }
        ),
        "OtlpStatus": {
            "type": "object",
            "description": "google.rpc.Status (JSON mapping) or its protobuf encoding",
        },
    }


# ---- the routes ---------------------------------------------------------------------------------

_PAGE = [
    query_param(
        "page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page number, from 1"
    ),
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "items per page"),
]
_TIME_RANGE = [
    query_param("fromTimestamp", TIME_IN, "timestamp >= (ISO-8601)"),
    query_param("toTimestamp", TIME_IN, "timestamp < (ISO-8601)"),
]
_ENVIRONMENT = query_param("environment", STRING, "any of", repeat=True)
_TRACE_PARAMS = [
    *_PAGE,
    query_param("userId", STRING, "trace user id"),
    query_param("name", STRING, "trace name"),
    query_param("sessionId", STRING, "session id"),
    *_TIME_RANGE,
    query_param(
        "orderBy",
        {
            "type": "string",
            "enum": [f"{f}.{d}" for f in sorted(TRACE_ORDER_FIELDS) for d in ("asc", "desc")],
        },
        "field.asc or field.desc",
    ),
    query_param("tags", STRING, "all must match", repeat=True),
    query_param("version", STRING, "trace version"),
    query_param("release", STRING, "trace release"),
    _ENVIRONMENT,
    _json_param(
        "filter",
        "TraceFilter",
        "JSON array of {type, column, operator, value, key?} conditions (all must hold)",
        required=False,
    ),
]
_OBSERVATION_PARAMS = [
    query_param("name", STRING, "observation name"),
    query_param("userId", STRING, "the trace's user id"),
    query_param("type", STRING, "SPAN, GENERATION, EVENT, AGENT, TOOL, ..."),
    query_param("traceId", STRING, "trace id"),
    query_param("level", STRING, "DEBUG, DEFAULT, WARNING, ERROR"),
    query_param("parentObservationId", STRING, "parent observation id"),
    _ENVIRONMENT,
    query_param("fromStartTime", TIME_IN, "startTime >= (ISO-8601)"),
    query_param("toStartTime", TIME_IN, "startTime < (ISO-8601)"),
    query_param("version", STRING, "observation version"),
    _json_param(
        "filter",
        "ObservationFilter",
        "JSON array of {type, column, operator, value, key?} conditions (all must hold)",
        required=False,
    ),
]
_V2_OBSERVATION_PARAMS = [
    query_param("fields", STRING, f"comma-separated field groups: {', '.join(FIELD_GROUPS)}"),
    query_param("expandMetadata", STRING, "comma-separated metadata keys not to truncate"),
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "page size"),
    query_param("cursor", STRING, "meta.cursor of the previous page"),
    query_param("sessionId", STRING, "the trace's session id"),
    query_param("isRootObservation", BOOLEAN, "only observations without (true) / with a parent"),
    query_param("parseIoAsJson", {"type": "boolean", "enum": [False]}, "must be false"),
    *(p for p in _OBSERVATION_PARAMS if p["name"] != "parentObservationId"),
    query_param("parentObservationId", STRING, "parent id; empty = only parentless"),
]
_DAILY_PARAMS = [
    *_PAGE,
    query_param("traceName", STRING, "trace name"),
    query_param("userId", STRING, "trace user id"),
    query_param("tags", STRING, "all must match", repeat=True),
    _ENVIRONMENT,
    *_TIME_RANGE,
]


def _metrics_param(schema: str) -> Schema:
    return _json_param("query", schema, "the metrics query object, JSON-encoded", required=True)


def _otlp(path: str) -> Operation:
    binary = {"application/x-protobuf": {"schema": {"type": "string", "format": "binary"}}}
    status = {"content": {**binary, "application/json": {"schema": _ref("OtlpStatus")}}}
    texts = {
        "200": "ExportTraceServiceResponse",
        "400": "undecodable body",
        "401": "missing or invalid Basic credentials",
        "413": "body too large",
        "415": "unsupported Content-Type or Content-Encoding",
        "500": "storage rejected the data",
        "503": "overloaded or storage down; retry after Retry-After",
    }
    return Operation(
        "post",
        path,
        "OTLP/HTTP trace export (ExportTraceServiceRequest, optional gzip)",
        {code: {"description": text, **copy.deepcopy(status)} for code, text in texts.items()},
        request_body={
            "required": True,
            "content": {**binary, "application/json": {"schema": {"type": "object"}}},
        },
    )


def _operations() -> list[Operation]:
    trace = path_param("traceId", "trace id")
    deleted = {"200": (Message, "deleted"), **error_responses(("400", "401", "500", "503"))}
    return [
        Operation(
            "get",
            "/api/public/health",
            "Health check (no auth)",
            {"200": (Health, "healthy"), "503": (Health, "ClickHouse unavailable")},
            public=True,
        ),
        Operation(
            "get",
            OPENAPI_PATH,
            "This document (no auth)",
            {"200": ({"type": "object"}, "OpenAPI 3.1 document")},
            public=True,
        ),
        Operation(
            "get",
            "/api/public/projects",
            "The project of the API key",
            {"200": (Projects, "success"), **error_responses(("401",))},
        ),
        read("/api/public/traces", "List traces", Traces, _TRACE_PARAMS),
        Operation(
            "delete",
            "/api/public/traces",
            "Delete traces with their observations and scores",
            deleted,
            request_body={
                "required": True,
                "content": {"application/json": {"schema": _ref("DeleteTracesRequest")}},
            },
        ),
        read(
            "/api/public/traces/{traceId}",
            "A trace with its observations",
            TraceWithFullDetails,
            [trace],
            not_found=True,
        ),
        Operation(
            "delete",
            "/api/public/traces/{traceId}",
            "Delete a trace with its observations and scores",
            deleted,
            [trace],
        ),
        read(
            "/api/public/observations",
            "List observations (v1)",
            ObservationsViews,
            [*_PAGE, *_OBSERVATION_PARAMS],
        ),
        read(
            "/api/public/observations/{observationId}",
            "An observation (v1)",
            ObservationsView,
            [path_param("observationId", "observation id")],
            not_found=True,
        ),
        read(
            "/api/public/v2/observations",
            "List observations with a cursor and field groups",
            ObservationsV2Response,
            _V2_OBSERVATION_PARAMS,
        ),
        read(
            "/api/public/sessions", "List sessions", Sessions, [*_PAGE, *_TIME_RANGE, _ENVIRONMENT]
        ),
        read(
            "/api/public/sessions/{sessionId}",
            "A session with its traces",
            SessionWithTraces,
            [path_param("sessionId", "session id")],
            not_found=True,
        ),
        read("/api/public/metrics/daily", "Daily usage and cost", DailyMetrics, _DAILY_PARAMS),
        read(
            "/api/public/metrics",
            "Aggregate metrics (v1 views)",
            MetricsResponse,
            [_metrics_param("MetricsQuery")],
        ),
        read(
            "/api/public/v2/metrics",
            "Aggregate metrics (v2 views)",
            MetricsResponse,
            [_metrics_param("MetricsQueryV2")],
        ),
        _otlp("/v1/traces"),
        _otlp("/api/public/otel/v1/traces"),
        Operation(
            "get",
            "/metrics",
            "Prometheus metrics of the process (no auth)",
            {
                "200": {
                    "description": "Prometheus text exposition",
                    "content": {"text/plain": {"schema": STRING}},
                }
            },
            public=True,
        ),
    ]


def openapi_document(
    extra_paths: Mapping[str, Any] | None = None,
    extra_schemas: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document, extended with ``extra_paths`` (path -> path item; methods of a
    path already described are added to it) and ``extra_schemas`` (component schemas; one equal
    to an existing schema of the same name is accepted).

    Raises:
        ValueError: an extra path redefines a method, or an extra schema an existing name with a
            different schema.
    """
    paths, schemas = path_items(_operations())
    schemas.update(_request_schemas())
    observation_v2 = schemas["ObservationV2"]
    observation_v2["description"] = "Keys of the requested field groups: " + "; ".join(
        f"{g}: {', '.join(keys)}" for g, keys in FIELD_GROUPS.items()
    )
    for path, item in (extra_paths or {}).items():
        target = paths.setdefault(path, {})
        for method, operation in item.items():
            if method in target:
                raise ValueError(f"OpenAPI: {method.upper()} {path} is already described")
            target[method] = copy.deepcopy(operation)
    for name, schema in (extra_schemas or {}).items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"OpenAPI: component schema {name} is already defined")
        schemas[name] = copy.deepcopy(schema)
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
