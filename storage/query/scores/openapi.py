"""OpenAPI 3.1 path items and component schemas of the score and ingestion routes, for
``storage.query.openapi.openapi_document(SCORES_OPENAPI_PATHS, SCORES_OPENAPI_SCHEMAS)``
(``query_routes(..., openapi_paths=..., openapi_schemas=...)``).

Covers ``POST /api/public/scores``, ``POST /api/public/ingestion`` (``ingest.api.scores``,
``ingest.ingestion.endpoint``) and ``GET /api/public/v2/scores``, ``/v2/scores/{scoreId}``,
``/v3/scores`` (this package). Response schemas are closed and list every key the shaping
functions emit (``shapes``); ``PageMeta`` and ``Error`` are the base document's components.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.query.params import MAX_PAGE
from storage.records import SCORE_DATA_TYPES, SCORE_SOURCES

__all__ = ["SCORES_OPENAPI_PATHS", "SCORES_OPENAPI_SCHEMAS"]

Schema = dict[str, Any]

_STRING: Schema = {"type": "string"}
_NULLABLE_STRING: Schema = {"type": ["string", "null"]}
_TIME: Schema = {"type": "string", "format": "date-time"}
_TIME_IN: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(19|2[0-2])[0-9][0-9]-",
    "description": "ISO-8601 / RFC 3339",
}
_PATH_ID: Schema = {"type": "string", "minLength": 1, "pattern": r"^[^/.][^/]*$"}
_DATA_TYPE: Schema = {"type": "string", "enum": sorted(SCORE_DATA_TYPES)}
_SOURCE: Schema = {"type": "string", "enum": sorted(SCORE_SOURCES)}


def _obj(properties: Mapping[str, Schema], required: list[str] | None = None) -> Schema:
    """A closed object; every property is required unless ``required`` says otherwise."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _errors(*codes: str) -> dict[str, Schema]:
    text = {
        "400": "invalid parameter or body (the message names it)",
        "401": "missing or invalid Basic credentials",
        "404": "not found in the caller's project",
        "413": "body too large",
        "415": "unsupported Content-Encoding",
        "500": "storage rejected the data or the query",
        "503": "storage unavailable or queue full; retry after Retry-After",
    }
    return {code: _json(_ref("Error"), text[code]) for code in codes}


_SCORE_PROPERTIES: dict[str, Schema] = {
    "id": _STRING,
    "projectId": _STRING,
    "traceId": _NULLABLE_STRING,
    "sessionId": _NULLABLE_STRING,
    "observationId": _NULLABLE_STRING,
    "datasetRunId": _NULLABLE_STRING,
    "name": _STRING,
    "source": _SOURCE,
    "timestamp": _TIME,
    "createdAt": _TIME,
    "updatedAt": _TIME,
    "authorUserId": _NULLABLE_STRING,
    "comment": _NULLABLE_STRING,
    "metadata": {"type": "object"},
    "configId": _NULLABLE_STRING,
    "queueId": _NULLABLE_STRING,
    "environment": _STRING,
    "dataType": _DATA_TYPE,
    "value": {"type": "number"},
    "stringValue": _NULLABLE_STRING,
}
_SCORE_REQUIRED = [k for k in _SCORE_PROPERTIES if k not in ("value", "stringValue")]
_TRACE_SUMMARY = _obj(
    {
        "userId": _NULLABLE_STRING,
        "tags": {"type": "array", "items": _STRING},
        "environment": _STRING,
        "sessionId": _NULLABLE_STRING,
    }
)
_SUBJECT = _obj(
    {
        "kind": {"type": "string", "enum": ["trace", "observation", "session", "experiment"]},
        "id": _STRING,
        "traceId": _NULLABLE_STRING,
    },
    required=["kind", "id"],
)
_V3_CORE = ("id", "projectId", "name", "value", "dataType", "source", "timestamp")
_V3_PROPERTIES: dict[str, Schema] = {
    "id": _STRING,
    "projectId": _STRING,
    "name": _STRING,
    "value": {"type": ["number", "boolean", "string", "null"]},
    "dataType": _DATA_TYPE,
    "source": _SOURCE,
    "timestamp": _TIME,
    "environment": _STRING,
    "createdAt": _TIME,
    "updatedAt": _TIME,
    "comment": _NULLABLE_STRING,
    "configId": _NULLABLE_STRING,
    "metadata": {"type": "object"},
    "authorUserId": _NULLABLE_STRING,
    "queueId": _NULLABLE_STRING,
    "subject": {"anyOf": [_SUBJECT, {"type": "null"}]},
}

SCORES_OPENAPI_SCHEMAS: dict[str, Schema] = {
    "ScoreV2": _obj(_SCORE_PROPERTIES, _SCORE_REQUIRED),
    "ScoreV2ListItem": _obj(
        {**_SCORE_PROPERTIES, "trace": {"anyOf": [_TRACE_SUMMARY, {"type": "null"}]}},
        _SCORE_REQUIRED,
    ),
    "ScoresV2": _obj(
        {"data": {"type": "array", "items": _ref("ScoreV2ListItem")}, "meta": _ref("PageMeta")}
    ),
    "ScoreV3": _obj(_V3_PROPERTIES, [*_V3_CORE, "environment", "createdAt", "updatedAt"]),
    "ScoresV3": _obj(
        {
            "data": {"type": "array", "items": _ref("ScoreV3")},
            "meta": _obj(
                {"limit": {"type": "integer", "minimum": 1}, "cursor": _STRING},
                required=["limit"],
            ),
        }
    ),
    "ScoreCreated": _obj({"id": _STRING}),
    "ScoresAccepted": _obj({"message": {"type": "string", "enum": ["Accepted"]}}),
    "ScoresPartiallyAccepted": _obj(
        {
            "accepted": {"type": "integer", "minimum": 0},
            "rejected": {"type": "integer", "minimum": 0},
            "errors": {
                "type": "array",
                "items": _obj({"index": {"type": "integer", "minimum": 0}, "message": _STRING}),
            },
        }
    ),
    "IngestionResult": _obj(
        {
            "successes": {
                "type": "array",
                "items": _obj({"id": _STRING, "status": {"type": "integer"}}),
            },
            "errors": {
                "type": "array",
                "items": _obj({"id": _STRING, "status": {"type": "integer"}, "message": _STRING}),
            },
        }
    ),
}
"""Component schemas (names do not clash with the base document's)."""

_CSV = "comma-separated"
_V2_PARAMS = [
    _query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page number"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "items per page"),
    _query("userId", _STRING, "user of the score's trace"),
    _query("name", _STRING, "score name"),
    _query("fromTimestamp", _TIME_IN, "timestamp >="),
    _query("toTimestamp", _TIME_IN, "timestamp <"),
    _query("environment", {"type": "array", "items": _STRING}, "any of (repeatable)"),
    _query("source", _SOURCE, "score source"),
    _query("operator", {"type": "string", "enum": ["<", ">", "<=", ">=", "=", "!="]}, "with value"),
    _query("value", {"type": "number"}, "compared with operator"),
    _query("scoreIds", _STRING, f"{_CSV} score ids"),
    _query("configId", _STRING, "score config id"),
    _query("queueId", _STRING, "annotation queue id"),
    _query("datasetRunId", _STRING, "dataset run id"),
    _query("sessionId", _STRING, "session id"),
    _query("traceId", _STRING, "trace id"),
    _query("observationId", _STRING, f"{_CSV} observation ids"),
    _query("dataType", _DATA_TYPE, "data type"),
    _query("traceTags", {"type": "array", "items": _STRING}, "trace has all (repeatable)"),
    _query("fields", _STRING, f"{_CSV} of score, trace (default both)"),
]
_V3_PARAMS = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "items per page"),
    _query("cursor", _STRING, "meta.cursor of the previous page"),
    _query("fields", _STRING, f"{_CSV} of details, subject, annotation"),
    *(
        _query(name, _STRING, f"{_CSV} values")
        for name in (
            "id",
            "name",
            "source",
            "dataType",
            "environment",
            "configId",
            "queueId",
            "authorUserId",
            "value",
            "traceId",
            "sessionId",
            "observationId",
            "experimentId",
        )
    ),
    _query("valueMin", {"type": "number"}, "value >= (dataType=NUMERIC)"),
    _query("valueMax", {"type": "number"}, "value <= (dataType=NUMERIC)"),
    _query("fromTimestamp", _TIME_IN, "timestamp >="),
    _query("toTimestamp", _TIME_IN, "timestamp <"),
]

SCORES_OPENAPI_PATHS: dict[str, Schema] = {
    "/api/public/scores": {
        "post": {
            "summary": "Create one score (200 {id}) or an array of scores (202 / 207)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
            },
            "responses": {
                "200": _json(_ref("ScoreCreated"), "one score written"),
                "202": _json(_ref("ScoresAccepted"), "every score of the array written"),
                "207": _json(_ref("ScoresPartiallyAccepted"), "the valid scores written"),
                **_errors("400", "401", "413", "415", "500", "503"),
            },
        }
    },
    "/api/public/ingestion": {
        "post": {
            "summary": "Langfuse batch ingestion: {batch: [event], metadata?}",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "207": _json(_ref("IngestionResult"), "per-event results (envelope ids)"),
                **_errors("400", "401", "413", "415", "503"),
            },
        }
    },
    "/api/public/v2/scores": {
        "get": {
            "summary": "Scores, newest first (page pagination)",
            "parameters": _V2_PARAMS,
            "responses": {
                "200": _json(_ref("ScoresV2"), "one page"),
                **_errors("400", "401", "500", "503"),
            },
        }
    },
    "/api/public/v2/scores/{scoreId}": {
        "get": {
            "summary": "One score",
            "parameters": [{"name": "scoreId", "in": "path", "required": True, "schema": _STRING}],
            "responses": {
                "200": _json(_ref("ScoreV2"), "the score"),
                **_errors("401", "404", "500", "503"),
            },
        }
    },
    "/api/public/v3/scores": {
        "get": {
            "summary": "Scores with a polymorphic value (cursor pagination)",
            "parameters": _V3_PARAMS,
            "responses": {
                "200": _json(_ref("ScoresV3"), "one page"),
                **_errors("400", "401", "500", "503"),
            },
        }
    },
}
"""Path items of the score and ingestion routes."""
