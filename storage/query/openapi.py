"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /api/public/openapi.json``.

It describes exactly the routes an all-in-one otelfuse serves: the public read API of
``storage.query.api`` (langfuse-anchor.md §5), health, projects, the OTLP/HTTP receivers
(``POST /v1/traces``, ``POST /api/public/otel/v1/traces``) and Prometheus ``GET /metrics``.
Response schemas are closed (``additionalProperties: false``) and list every key the shaping
functions emit, so a schema-conformance checker (schemathesis) catches drift.

Extension point: routes mounted by other modules (the scores API: ``POST /api/public/scores``,
``GET /api/public/v2/scores``, ``POST /api/public/ingestion``) add their path items and
component schemas with ``openapi_document(extra_paths, extra_schemas)``; ``query_routes``
forwards its ``openapi_paths``/``openapi_schemas`` arguments here. Path items of a path that is
already described are merged method by method.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from storage.query.deletion import MAX_TRACE_IDS
from storage.query.filter_columns import OBSERVATION_FILTERS, TRACE_FILTERS
from storage.query.filters import MAX_CONDITIONS, OPERATORS
from storage.query.metrics import AGGREGATIONS, GRANULARITIES, MAX_DIMENSIONS, MAX_METRICS
from storage.query.metrics_views import VIEWS_V1, VIEWS_V2, View
from storage.query.observations_v2 import FIELD_GROUPS, MAX_LIMIT
from storage.query.params import MAX_PAGE, TRACE_ORDER_FIELDS

__all__ = ["OPENAPI_PATH", "openapi_document"]

OPENAPI_PATH = "/api/public/openapi.json"

Schema = dict[str, Any]

# ---- schema helpers ---------------------------------------------------------------------------

ANY: Schema = {}
STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
TIME_IN: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(19|2[0-2])[0-9][0-9]-",
    "description": "ISO-8601 / RFC 3339, years 1900..2299 (the range of DateTime64)",
}


def _null(schema: Schema) -> Schema:
    """``schema`` or ``null``."""
    return {**schema, "type": [schema["type"], "null"]}


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


def _map(values: Schema) -> Schema:
    return {"type": "object", "additionalProperties": values}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


# ---- component schemas --------------------------------------------------------------------------

_TRACE = {
    "id": STRING,
    "projectId": STRING,
    "timestamp": TIME,
    "name": _null(STRING),
    "input": ANY,
    "output": ANY,
    "sessionId": _null(STRING),
    "release": _null(STRING),
    "version": _null(STRING),
    "userId": _null(STRING),
    "metadata": _map(ANY),
    "tags": _array(STRING),
    "public": BOOLEAN,
    "bookmarked": BOOLEAN,
    "environment": STRING,
    "externalId": {"type": "null"},
    "createdAt": TIME,
    "updatedAt": TIME,
    "htmlPath": STRING,
    "latency": {**_null(NUMBER), "description": "seconds from first start to last end"},
}

_USAGE = _obj({"unit": STRING, "input": NUMBER, "output": NUMBER, "total": NUMBER})

_OBSERVATION_VIEW = {
    "id": STRING,
    "projectId": STRING,
    "traceId": STRING,
    "parentObservationId": _null(STRING),
    "name": _null(STRING),
    "type": STRING,
    "environment": STRING,
    "startTime": TIME,
    "endTime": _null(TIME),
    "completionStartTime": _null(TIME),
    "version": _null(STRING),
    "release": _null(STRING),
    "createdAt": TIME,
    "updatedAt": TIME,
    "input": ANY,
    "output": ANY,
    "metadata": _map(ANY),
    "level": STRING,
    "statusMessage": _null(STRING),
    "model": _null(STRING),
    "modelParameters": ANY,
    "promptId": _null(STRING),
    "promptName": _null(STRING),
    "promptVersion": _null(INTEGER),
    "usageDetails": _map(INTEGER),
    "costDetails": _map(NUMBER),
    "usage": _USAGE,
    "unit": STRING,
    "promptTokens": NUMBER,
    "completionTokens": NUMBER,
    "totalTokens": NUMBER,
    "usagePricingTierId": _null(STRING),
    "usagePricingTierName": _null(STRING),
    "modelId": _null(STRING),
    "inputPrice": _null(NUMBER),
    "outputPrice": _null(NUMBER),
    "totalPrice": _null(NUMBER),
    "calculatedInputCost": _null(NUMBER),
    "calculatedOutputCost": _null(NUMBER),
    "calculatedTotalCost": _null(NUMBER),
    "totalCost": {**_null(NUMBER), "description": "USD"},
    "latency": {**_null(NUMBER), "description": "seconds"},
    "timeToFirstToken": {**_null(NUMBER), "description": "seconds"},
    "usageEstimated": BOOLEAN,
}

_OBSERVATION_V2_TYPES: dict[str, Schema] = {
    "id": STRING,
    "traceId": STRING,
    "startTime": TIME,
    "endTime": _null(TIME),
    "projectId": STRING,
    "parentObservationId": _null(STRING),
    "type": STRING,
    "name": _null(STRING),
    "level": STRING,
    "statusMessage": _null(STRING),
    "version": _null(STRING),
    "environment": STRING,
    "bookmarked": BOOLEAN,
    "public": BOOLEAN,
    "userId": _null(STRING),
    "sessionId": _null(STRING),
    "isRootObservation": BOOLEAN,
    "completionStartTime": _null(TIME),
    "createdAt": TIME,
    "updatedAt": TIME,
    "input": _null(STRING),
    "output": _null(STRING),
    "metadata": _map(STRING),
    "providedModelName": _null(STRING),
    "internalModelId": _null(STRING),
    "modelParameters": ANY,
    "modelId": _null(STRING),
    "inputPrice": _null(STRING),
    "outputPrice": _null(STRING),
    "totalPrice": _null(STRING),
    "usageDetails": _map(INTEGER),
    "costDetails": _map(NUMBER),
    "totalCost": _null(NUMBER),
    "usagePricingTierName": _null(STRING),
    "promptId": _null(STRING),
    "promptName": _null(STRING),
    "promptVersion": _null(INTEGER),
    "latency": _null(NUMBER),
    "timeToFirstToken": _null(NUMBER),
    "tags": _array(STRING),
    "release": _null(STRING),
    "traceName": _null(STRING),
}

_SESSION = {"id": STRING, "createdAt": TIME, "projectId": STRING, "environment": STRING}

_DAILY_USAGE = _obj(
    {
        "model": STRING,
        "inputUsage": INTEGER,
        "outputUsage": INTEGER,
        "totalUsage": INTEGER,
        "countObservations": INTEGER,
        "countTraces": INTEGER,
        "totalCost": NUMBER,
    }
)


def _filter_condition(columns: Iterable[str]) -> Schema:
    """One filter condition over ``columns`` (langfuse-anchor.md §5 "Filter JSON")."""
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
        "description": "A metrics query (langfuse-anchor.md §5): fromTimestamp < toTimestamp;"
        " responses key dimensions by field, the time bucket as time_dimension and metrics as"
        " <aggregation>_<measure>.",
        "oneOf": [_metrics_view_query(v) for _, v in sorted(views.items())],
    }


def _schemas() -> dict[str, Schema]:
    page_meta = _obj(
        {
            "page": {"type": "integer", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1},
            "totalItems": {"type": "integer", "minimum": 0},
            "totalPages": {"type": "integer", "minimum": 0},
        }
    )
    return {
        "Error": {
            "type": "object",
            "properties": {"message": STRING, "error": STRING},
            "required": ["message"],
        },
        "PageMeta": page_meta,
        "Health": _obj({"status": STRING, "version": STRING}),
        "Projects": _obj(
            {
                "data": _array(
                    _obj(
                        {
                            "id": STRING,
                            "name": STRING,
                            "organization": _obj({"id": STRING, "name": STRING}),
                            "metadata": _map(ANY),
                        }
                    )
                )
            }
        ),
        "Trace": _obj(_TRACE),
        "TraceListItem": _obj(
            {
                **_TRACE,
                "totalCost": NUMBER,
                "observations": _array(STRING),
                "scores": _array(STRING),
            }
        ),
        "TraceWithFullDetails": _obj(
            {
                **_TRACE,
                "totalCost": NUMBER,
                "observations": _array(_ref("ObservationsView")),
                "scores": _array({"type": "object"}),
            }
        ),
        "Traces": _obj({"data": _array(_ref("TraceListItem")), "meta": _ref("PageMeta")}),
        "ObservationsView": _obj(_OBSERVATION_VIEW),
        "ObservationsViews": _obj(
            {"data": _array(_ref("ObservationsView")), "meta": _ref("PageMeta")}
        ),
        "ObservationV2": {
            **_obj(_OBSERVATION_V2_TYPES, required=FIELD_GROUPS["core"]),
            "description": "Keys of the requested field groups: "
            + "; ".join(f"{g}: {', '.join(keys)}" for g, keys in FIELD_GROUPS.items()),
        },
        "ObservationsV2Response": _obj(
            {
                "data": _array(_ref("ObservationV2")),
                "meta": _obj({"cursor": STRING}, required=()),
            }
        ),
        "Session": _obj(_SESSION),
        "Sessions": _obj({"data": _array(_ref("Session")), "meta": _ref("PageMeta")}),
        "SessionWithTraces": _obj({**_SESSION, "traces": _array(_ref("Trace"))}),
        "DailyMetrics": _obj(
            {
                "data": _array(
                    _obj(
                        {
                            "date": {"type": "string", "format": "date"},
                            "countTraces": INTEGER,
                            "countObservations": INTEGER,
                            "totalCost": NUMBER,
                            "usage": _array(_DAILY_USAGE),
                        }
                    )
                ),
                "meta": _ref("PageMeta"),
            }
        ),
        "TraceFilter": _filter_array(TRACE_FILTERS.columns),
        "ObservationFilter": _filter_array(OBSERVATION_FILTERS.columns),
        "MetricsQuery": _metrics_query(VIEWS_V1),
        "MetricsQueryV2": _metrics_query(VIEWS_V2),
        "MetricsResponse": _obj({"data": _array({"type": "object", "additionalProperties": ANY})}),
        "DeleteTracesRequest": _obj(
            {
                "traceIds": {
                    **_array({"type": "string", "minLength": 1}),
                    "minItems": 1,
                    "maxItems": MAX_TRACE_IDS,
                }
            }
        ),
        "Message": _obj({"message": STRING}),
        "OtlpStatus": {
            "type": "object",
            "description": "google.rpc.Status (JSON mapping) or its protobuf encoding",
        },
    }


# ---- parameters and responses -------------------------------------------------------------------


def _query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


def _repeat(name: str, description: str) -> Schema:
    return {**_query(name, _array(STRING), description), "style": "form", "explode": True}


def _path(name: str, description: str) -> Schema:
    # ids are any text without "/" (a "/" would leave the route) and not "." or ".."
    schema = {"type": "string", "minLength": 1, "pattern": r"^[^/.][^/]*$"}
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


_PAGE = [
    _query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page number, from 1"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "items per page"),
]


def _filter_param(schema: str) -> Schema:
    return {
        "name": "filter",
        "in": "query",
        "required": False,
        "description": "JSON array of {type, column, operator, value, key?} conditions (all"
        " must hold)",
        "content": {"application/json": {"schema": _ref(schema)}},
    }


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _ref("Error")
_ERRORS = {
    "400": _json(_ERROR, "invalid parameter"),
    "401": _json(_ERROR, "missing or invalid Basic credentials"),
    "500": _json(_ERROR, "storage rejected the query"),
    "503": _json(_ERROR, "storage unavailable; retry after Retry-After seconds"),
}


def _get(
    summary: str,
    schema: str,
    parameters: list[Schema],
    *,
    not_found: bool = False,
) -> Schema:
    responses = {"200": _json(_ref(schema), "success"), **_ERRORS}
    if not_found:
        responses["404"] = _json(_ERROR, "not found in the caller's project")
    return {"summary": summary, "parameters": parameters, "responses": responses}


def _paths() -> dict[str, Schema]:
    otlp_body = {
        "required": True,
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
    otlp_status = {
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": _ref("OtlpStatus")},
        }
    }
    otlp = {
        "post": {
            "summary": "OTLP/HTTP trace export (ExportTraceServiceRequest, optional gzip)",
            "requestBody": otlp_body,
            "responses": {
                "200": {"description": "ExportTraceServiceResponse", **otlp_status},
                **{
                    code: {"description": text, **otlp_status}
                    for code, text in (
                        ("400", "undecodable body"),
                        ("401", "missing or invalid Basic credentials"),
                        ("413", "body too large"),
                        ("415", "unsupported Content-Type or Content-Encoding"),
                        ("500", "storage rejected the data"),
                        ("503", "overloaded or storage down; retry after Retry-After"),
                    )
                },
            },
        }
    }
    trace_filters = [
        *_PAGE,
        _query("userId", STRING, "trace user id"),
        _query("name", STRING, "trace name"),
        _query("sessionId", STRING, "session id"),
        _query("fromTimestamp", TIME_IN, "timestamp >= (ISO-8601)"),
        _query("toTimestamp", TIME_IN, "timestamp < (ISO-8601)"),
        _query(
            "orderBy",
            {
                "type": "string",
                "enum": [f"{f}.{d}" for f in sorted(TRACE_ORDER_FIELDS) for d in ("asc", "desc")],
            },
            "field.asc or field.desc",
        ),
        _repeat("tags", "all must match"),
        _query("version", STRING, "trace version"),
        _query("release", STRING, "trace release"),
        _repeat("environment", "any of"),
        _filter_param("TraceFilter"),
    ]
    observation_filters = [
        _query("name", STRING, "observation name"),
        _query("userId", STRING, "the trace's user id"),
        _query("type", STRING, "SPAN, GENERATION, EVENT, AGENT, TOOL, ..."),
        _query("traceId", STRING, "trace id"),
        _query("level", STRING, "DEBUG, DEFAULT, WARNING, ERROR"),
        _query("parentObservationId", STRING, "parent observation id"),
        _repeat("environment", "any of"),
        _query("fromStartTime", TIME_IN, "startTime >= (ISO-8601)"),
        _query("toStartTime", TIME_IN, "startTime < (ISO-8601)"),
        _query("version", STRING, "observation version"),
        _filter_param("ObservationFilter"),
    ]
    v2_observation_filters = [
        _query("fields", STRING, f"comma-separated field groups: {', '.join(FIELD_GROUPS)}"),
        _query("expandMetadata", STRING, "comma-separated metadata keys not to truncate"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "page size"),
        _query("cursor", STRING, "meta.cursor of the previous page"),
        _query("sessionId", STRING, "the trace's session id"),
        _query("isRootObservation", BOOLEAN, "only observations without (true) / with a parent"),
        _query("parseIoAsJson", {"type": "boolean", "enum": [False]}, "must be false"),
        *(p for p in observation_filters if p["name"] != "parentObservationId"),
        _query("parentObservationId", STRING, "parent id; empty = only parentless"),
    ]
    time_range = [
        _query("fromTimestamp", TIME_IN, "timestamp >= (ISO-8601)"),
        _query("toTimestamp", TIME_IN, "timestamp < (ISO-8601)"),
    ]
    return {
        "/api/public/health": {
            "get": {
                "summary": "Health check (no auth)",
                "security": [],
                "responses": {
                    "200": _json(_ref("Health"), "healthy"),
                    "503": _json(_ref("Health"), "ClickHouse unavailable"),
                },
            }
        },
        OPENAPI_PATH: {
            "get": {
                "summary": "This document (no auth)",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
            }
        },
        "/api/public/projects": {
            "get": {
                "summary": "The project of the API key",
                "responses": {
                    "200": _json(_ref("Projects"), "success"),
                    "401": _ERRORS["401"],
                },
            }
        },
        "/api/public/traces": {
            "get": _get("List traces", "Traces", trace_filters),
            "delete": {
                "summary": "Delete traces with their observations and scores",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("DeleteTracesRequest")}},
                },
                "responses": {"200": _json(_ref("Message"), "deleted"), **_ERRORS},
            },
        },
        "/api/public/traces/{traceId}": {
            "get": _get(
                "A trace with its observations",
                "TraceWithFullDetails",
                [_path("traceId", "trace id")],
                not_found=True,
            ),
            "delete": {
                "summary": "Delete a trace with its observations and scores",
                "parameters": [_path("traceId", "trace id")],
                "responses": {"200": _json(_ref("Message"), "deleted"), **_ERRORS},
            },
        },
        "/api/public/observations": {
            "get": _get(
                "List observations (v1)", "ObservationsViews", [*_PAGE, *observation_filters]
            )
        },
        "/api/public/observations/{observationId}": {
            "get": _get(
                "An observation (v1)",
                "ObservationsView",
                [_path("observationId", "observation id")],
                not_found=True,
            )
        },
        "/api/public/v2/observations": {
            "get": _get(
                "List observations with a cursor and field groups",
                "ObservationsV2Response",
                v2_observation_filters,
            )
        },
        "/api/public/sessions": {
            "get": _get(
                "List sessions",
                "Sessions",
                [*_PAGE, *time_range, _repeat("environment", "any of")],
            )
        },
        "/api/public/sessions/{sessionId}": {
            "get": _get(
                "A session with its traces",
                "SessionWithTraces",
                [_path("sessionId", "session id")],
                not_found=True,
            )
        },
        "/api/public/metrics/daily": {
            "get": _get(
                "Daily usage and cost",
                "DailyMetrics",
                [
                    *_PAGE,
                    _query("traceName", STRING, "trace name"),
                    _query("userId", STRING, "trace user id"),
                    _repeat("tags", "all must match"),
                    _repeat("environment", "any of"),
                    *time_range,
                ],
            )
        },
        "/api/public/metrics": {
            "get": _get(
                "Aggregate metrics (v1 views)",
                "MetricsResponse",
                [_metrics_param("MetricsQuery")],
            )
        },
        "/api/public/v2/metrics": {
            "get": _get(
                "Aggregate metrics (v2 views)",
                "MetricsResponse",
                [_metrics_param("MetricsQueryV2")],
            )
        },
        "/v1/traces": otlp,
        "/api/public/otel/v1/traces": copy.deepcopy(otlp),
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of the process (no auth)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition",
                        "content": {"text/plain": {"schema": STRING}},
                    }
                },
            }
        },
    }


def _metrics_param(schema: str) -> Schema:
    return {
        "name": "query",
        "in": "query",
        "required": True,
        "description": "the metrics query object, JSON-encoded",
        "content": {"application/json": {"schema": _ref(schema)}},
    }


def openapi_document(
    extra_paths: Mapping[str, Any] | None = None,
    extra_schemas: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document, extended with ``extra_paths`` (path -> path item; methods of a
    path already described are added to it) and ``extra_schemas`` (component schemas).

    Raises:
        ValueError: an extra path redefines a method, or an extra schema an existing name.
    """
    paths = _paths()
    for path, item in (extra_paths or {}).items():
        target = paths.setdefault(path, {})
        for method, operation in item.items():
            if method in target:
                raise ValueError(f"OpenAPI: {method.upper()} {path} is already described")
            target[method] = copy.deepcopy(operation)
    schemas = _schemas()
    for name, schema in (extra_schemas or {}).items():
        if name in schemas:
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
            "schemas": schemas,
        },
    }
