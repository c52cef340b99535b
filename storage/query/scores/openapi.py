"""OpenAPI 3.1 path items and component schemas of the score and ingestion routes, for
``storage.query.openapi.openapi_document(SCORES_OPENAPI_PATHS, SCORES_OPENAPI_SCHEMAS)``
(``query_routes(..., openapi_paths=..., openapi_schemas=...)``).

Covers ``POST /api/public/scores``, ``POST /api/public/ingestion`` (``ingest.api.scores``,
``ingest.ingestion.endpoint``) and ``GET /api/public/v2/scores``, ``/v2/scores/{scoreId}``,
``/v3/scores`` (this package). One ``Operation`` per route; the response models are those of
``storage.query.schemas`` that ``shapes`` builds, so the schemas list exactly the keys the
shaping functions emit. ``SCORES_OPENAPI_SCHEMAS`` holds every model referenced, including the
base document's ``PageMeta`` and ``Error`` (equal, so merging accepts them).
"""

from __future__ import annotations

from typing import Any

from storage.query.openapi import (
    Operation,
    error_responses,
    path_items,
    query_param,
)
from storage.query.params import MAX_PAGE
from storage.query.schemas import (
    IngestionResult,
    ScoreCreated,
    ScoresAccepted,
    ScoresPartiallyAccepted,
    ScoresV2,
    ScoresV3,
    ScoreV2,
)
from storage.records import SCORE_DATA_TYPES, SCORE_SOURCES

__all__ = ["SCORES_OPENAPI_PATHS", "SCORES_OPENAPI_SCHEMAS"]

Schema = dict[str, Any]

_STRING: Schema = {"type": "string"}
_TIME_IN: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(19|2[0-2])[0-9][0-9]-",
    "description": "ISO-8601 / RFC 3339",
}
_DATA_TYPE: Schema = {"type": "string", "enum": sorted(SCORE_DATA_TYPES)}
_SOURCE: Schema = {"type": "string", "enum": sorted(SCORE_SOURCES)}
_ERROR_TEXTS = {
    "400": "invalid parameter or body (the message names it)",
    "401": "missing or invalid Basic credentials",
    "404": "not found in the caller's project",
    "413": "body too large",
    "415": "unsupported Content-Encoding",
    "500": "storage rejected the data or the query",
    "503": "storage unavailable or queue full; retry after Retry-After",
}


def _errors(*codes: str) -> dict[str, Any]:
    return error_responses(codes, _ERROR_TEXTS)


def _q(name: str, schema: Schema, description: str) -> Schema:
    return query_param(name, schema, description)


_CSV = "comma-separated"
_PAGE_SIZE: Schema = {"type": "integer", "minimum": 1, "maximum": 100}
_V2_PARAMS = [
    _q("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page number"),
    _q("limit", _PAGE_SIZE, "items per page"),
    _q("userId", _STRING, "user of the score's trace"),
    _q("name", _STRING, "score name"),
    _q("fromTimestamp", _TIME_IN, "timestamp >="),
    _q("toTimestamp", _TIME_IN, "timestamp <"),
    _q("environment", {"type": "array", "items": _STRING}, "any of (repeatable)"),
    _q("source", _SOURCE, "score source"),
    _q("operator", {"type": "string", "enum": ["<", ">", "<=", ">=", "=", "!="]}, "with value"),
    _q("value", {"type": "number"}, "compared with operator"),
    _q("scoreIds", _STRING, f"{_CSV} score ids"),
    _q("configId", _STRING, "score config id"),
    _q("queueId", _STRING, "annotation queue id"),
    _q("datasetRunId", _STRING, "dataset run id"),
    _q("sessionId", _STRING, "session id"),
    _q("traceId", _STRING, "trace id"),
    _q("observationId", _STRING, f"{_CSV} observation ids"),
    _q("dataType", _DATA_TYPE, "data type"),
    _q("traceTags", {"type": "array", "items": _STRING}, "trace has all (repeatable)"),
    _q("fields", _STRING, f"{_CSV} of score, trace (default both)"),
]
_V3_CSV_FILTERS = (
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
_V3_PARAMS = [
    _q("limit", _PAGE_SIZE, "items per page"),
    _q("cursor", _STRING, "meta.cursor of the previous page"),
    _q("fields", _STRING, f"{_CSV} of details, subject, annotation"),
    *(_q(name, _STRING, f"{_CSV} values") for name in _V3_CSV_FILTERS),
    _q("valueMin", {"type": "number"}, "value >= (dataType=NUMERIC)"),
    _q("valueMax", {"type": "number"}, "value <= (dataType=NUMERIC)"),
    _q("fromTimestamp", _TIME_IN, "timestamp >="),
    _q("toTimestamp", _TIME_IN, "timestamp <"),
]

_OPERATIONS = [
    Operation(
        "post",
        "/api/public/scores",
        "Create one score (200 {id}) or an array of scores (202 / 207)",
        {
            "200": (ScoreCreated, "one score written"),
            "202": (ScoresAccepted, "every score of the array written"),
            "207": (ScoresPartiallyAccepted, "the valid scores written"),
            **_errors("400", "401", "413", "415", "500", "503"),
        },
        request_body={
            "required": True,
            "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
        },
    ),
    Operation(
        "post",
        "/api/public/ingestion",
        "Langfuse batch ingestion: {batch: [event], metadata?}",
        {
            "207": (IngestionResult, "per-event results (envelope ids)"),
            **_errors("400", "401", "413", "415", "503"),
        },
        request_body={
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    ),
    Operation(
        "get",
        "/api/public/v2/scores",
        "Scores, newest first (page pagination)",
        {"200": (ScoresV2, "one page"), **_errors("400", "401", "500", "503")},
        _V2_PARAMS,
    ),
    Operation(
        "get",
        "/api/public/v2/scores/{scoreId}",
        "One score",
        {"200": (ScoreV2, "the score"), **_errors("401", "404", "500", "503")},
        [{"name": "scoreId", "in": "path", "required": True, "schema": _STRING}],
    ),
    Operation(
        "get",
        "/api/public/v3/scores",
        "Scores with a polymorphic value (cursor pagination)",
        {"200": (ScoresV3, "one page"), **_errors("400", "401", "500", "503")},
        _V3_PARAMS,
    ),
]

SCORES_OPENAPI_PATHS: dict[str, Schema]
"""Path items of the score and ingestion routes."""
SCORES_OPENAPI_SCHEMAS: dict[str, Schema]
"""Component schemas of their response models (shared ones equal the base document's)."""
SCORES_OPENAPI_PATHS, SCORES_OPENAPI_SCHEMAS = path_items(_OPERATIONS)
