"""Scores: ``POST /api/public/scores`` and the score reads (langfuse/langfuse
``fern/apis/server/definition/score.yml``, ``score-v2.yml``; the v3 list is what the Langfuse
Python SDK 5's ``api.scores.get_many`` calls).

Writes (``ScoreWrites``; body rules: ``ingest.ingestion.scores``):

- ONE score object (Langfuse public API): 200 ``{"id": ...}`` once written; an invalid score is
  400 ``{"message": ...}`` naming the field;
- a JSON ARRAY of scores (Langfuse Python SDK 5): the valid ones are written; 202
  ``{"message": "Accepted"}`` when all were valid, else 207 ``{"accepted": n, "rejected": m,
  "errors": [{"index": i, "message": ...}]}``;
- ``ScoreSink.submit_scores`` returns once the rows are durable; storage down → 503 +
  ``Retry-After``; a score the sink refuses for good (scale-out: larger than a Kafka message)
  is 413 for a single score, an ``errors`` item for an array.

Reads (``ScoreReads``; parameters and shapes: ``storage.query.scores``):

- ``GET /api/public/v2/scores`` -> ``{"data": [Score + "trace"], "meta": {page, limit,
  totalItems, totalPages}}``;
- ``GET /api/public/v2/scores/{scoreId}`` -> Score, 404 when not in the caller's project;
- ``GET /api/public/v3/scores`` -> ``{"data": [ScoreV3], "meta": {"limit", "cursor"?}}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.archive_hook import JSON, ArchivedRequest, Archiving
from ingest.errors import HTTPError, write_failure
from ingest.http.auth import authenticate
from ingest.http.body import parse_json, read_body
from ingest.http.openapi import (
    STRING,
    WRITE_ERROR_TEXTS,
    DocumentedRoute,
    Operation,
    Schema,
    error_responses,
    query_param,
)
from ingest.http.responses import JSONResponse
from ingest.ingestion.scores import parse_score
from ingest.ingestion.telemetry import INGESTION_METRICS
from ingest.ingestion.values import Invalid
from ingest.memory_limiter import MEMORY_LIMITER
from ingest.sinks import ScoreSink
from storage.auth import KeyStore
from storage.query import schemas
from storage.query.params import MAX_PAGE, parse_page
from storage.query.scores.params import encode_cursor, parse_score_filter, parse_v3_query
from storage.query.scores.repository import ScoreRepository
from storage.query.scores.shapes import score_v2_json, score_v3_json, trace_summary_json
from storage.records import SCORE_DATA_TYPES, SCORE_SOURCES, ScoreRecord

__all__ = ["OPERATIONS", "SCORES_PATH", "ScoreReads", "ScoreWrites"]

log = logging.getLogger(__name__)

SCORES_PATH = "/api/public/scores"

_TIME_IN: Schema = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(19|2[0-2])[0-9][0-9]-",
    "description": "ISO-8601 / RFC 3339",
}
_DATA_TYPE: Schema = {"type": "string", "enum": sorted(SCORE_DATA_TYPES)}
_SOURCE: Schema = {"type": "string", "enum": sorted(SCORE_SOURCES)}


def _errors(*codes: str) -> dict[str, Any]:
    return error_responses(codes, WRITE_ERROR_TEXTS)


def _q(name: str, schema: Schema, description: str) -> Schema:
    return query_param(name, schema, description)


_CSV = "comma-separated"
_PAGE_SIZE: Schema = {"type": "integer", "minimum": 1, "maximum": 100}
_V2_PARAMS = [
    _q("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page number"),
    _q("limit", _PAGE_SIZE, "items per page"),
    _q("userId", STRING, "user of the score's trace"),
    _q("name", STRING, "score name"),
    _q("fromTimestamp", _TIME_IN, "timestamp >="),
    _q("toTimestamp", _TIME_IN, "timestamp <"),
    _q("environment", {"type": "array", "items": STRING}, "any of (repeatable)"),
    _q("source", _SOURCE, "score source"),
    _q("operator", {"type": "string", "enum": ["<", ">", "<=", ">=", "=", "!="]}, "with value"),
    _q("value", {"type": "number"}, "compared with operator"),
    _q("scoreIds", STRING, f"{_CSV} score ids"),
    _q("configId", STRING, "score config id"),
    _q("queueId", STRING, "annotation queue id"),
    _q("datasetRunId", STRING, "dataset run id"),
    _q("sessionId", STRING, "session id"),
    _q("traceId", STRING, "trace id"),
    _q("observationId", STRING, f"{_CSV} observation ids"),
    _q("dataType", _DATA_TYPE, "data type"),
    _q("traceTags", {"type": "array", "items": STRING}, "trace has all (repeatable)"),
    _q("fields", STRING, f"{_CSV} of score, trace (default both)"),
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
    _q("cursor", STRING, "meta.cursor of the previous page"),
    _q("fields", STRING, f"{_CSV} of details, subject, annotation"),
    *(_q(name, STRING, f"{_CSV} values") for name in _V3_CSV_FILTERS),
    _q("valueMin", {"type": "number"}, "value >= (dataType=NUMERIC)"),
    _q("valueMax", {"type": "number"}, "value <= (dataType=NUMERIC)"),
    _q("fromTimestamp", _TIME_IN, "timestamp >="),
    _q("toTimestamp", _TIME_IN, "timestamp <"),
]

OPERATIONS = {
    "create": Operation(
        "post",
        SCORES_PATH,
        "Create one score (200 {id}) or an array of scores (202 / 207)",
        {
            "200": (schemas.ScoreCreated, "one score written"),
            "202": (schemas.ScoresAccepted, "every score of the array written"),
            "207": (schemas.ScoresPartiallyAccepted, "the valid scores written"),
            **_errors("400", "401", "413", "415", "500", "503"),
        },
        request_body={
            "required": True,
            "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
        },
    ),
    "list_v2": Operation(
        "get",
        "/api/public/v2/scores",
        "Scores, newest first (page pagination)",
        {"200": (schemas.ScoresV2, "one page"), **_errors("400", "401", "500", "503")},
        _V2_PARAMS,
    ),
    "get_v2": Operation(
        "get",
        "/api/public/v2/scores/{scoreId}",
        "One score",
        {"200": (schemas.ScoreV2, "the score"), **_errors("401", "404", "500", "503")},
        [{"name": "scoreId", "in": "path", "required": True, "schema": STRING}],
    ),
    "list_v3": Operation(
        "get",
        "/api/public/v3/scores",
        "Scores with a polymorphic value (cursor pagination)",
        {"200": (schemas.ScoresV3, "one page"), **_errors("400", "401", "500", "503")},
        _V3_PARAMS,
    ),
}
"""The documented operations, by handler name."""


class ScoreWrites:
    """``POST /api/public/scores`` (module docstring).

    Args:
        sink: where validated scores are written.
        keys: API keys (Basic auth, project-scoped).
        max_request_bytes: body limit, also after gzip decompression.
        archive: keeps accepted requests (the inflated JSON body) in the raw archive.
    """

    def __init__(
        self,
        sink: ScoreSink,
        keys: KeyStore,
        max_request_bytes: int,
        archive: Archiving | None = None,
    ) -> None:
        self._sink = sink
        self._keys = keys
        self._limit = max_request_bytes
        self._archive = archive

    def routes(self) -> list[Route]:
        """The POST route."""
        return [DocumentedRoute(SCORES_PATH, self.create, OPERATIONS["create"])]

    async def create(self, request: Request) -> Response:
        """Validate and store one score or an array of scores.

        Raises:
            HTTPError: 400 invalid single score, 413 refused single score, 503/500 when the
                write failed; and what ``authenticate`` and ``read_json`` raise.
        """
        project = await authenticate(self._keys, request)
        if self._archive is not None and not self._archive.target.has_room():
            raise HTTPError(503, "archive queue full, retry later", {"Retry-After": "1"})
        raw = await read_body(request, self._limit)
        with MEMORY_LIMITER.reserve(len(raw)):
            body = parse_json(raw)
            received_ns = time.time_ns()
            now_us = received_ns // 1000
            if isinstance(body, list):
                response, _ = await asyncio.gather(
                    self._create_many(body, project.id, now_us),
                    self._archived(project.id, raw, received_ns),
                )
                return response
            try:
                record = parse_score(body, project.id, now_us=now_us)
            except Invalid as exc:
                INGESTION_METRICS.scores("scores", "invalid")
                raise HTTPError(400, str(exc)) from None
            refused, _ = await asyncio.gather(
                self._store([record]), self._archived(project.id, raw, received_ns)
            )
            if refused:
                raise HTTPError(413, refused[0])
            return JSONResponse({"id": record.id})

    async def _archived(self, project_id: str, raw: bytes, received_ns: int) -> None:
        if self._archive is not None:
            await self._archive.archive(
                project_id,
                ArchivedRequest.LANGFUSE_SCORES,
                "http",
                JSON,
                raw,
                received_ns=received_ns,
            )

    async def _create_many(self, items: list[Any], project_id: str, now_us: int) -> Response:
        records: list[ScoreRecord] = []
        positions: list[int] = []  # index in ``items`` of each record
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                records.append(parse_score(item, project_id, now_us=now_us))
                positions.append(index)
            except Invalid as exc:
                errors.append({"index": index, "message": str(exc)})
        if errors:
            INGESTION_METRICS.scores("scores", "invalid", len(errors))
            log.info("rejected %d of %d scores: %s", len(errors), len(items), errors[:3])
        refused = await self._store(records)
        if refused:
            errors += [{"index": positions[i], "message": reason} for i, reason in refused.items()]
            errors.sort(key=lambda error: int(error["index"]))
        if not errors:
            return JSONResponse({"message": "Accepted"}, status_code=202)
        accepted = len(records) - len(refused)
        body = {"accepted": accepted, "rejected": len(errors), "errors": errors}
        return JSONResponse(body, status_code=207)

    async def _store(self, records: list[ScoreRecord]) -> Mapping[int, str]:
        """Submit ``records``; returns the sink's refusals by index.

        Raises:
            HTTPError: 503 (retryable) or 500 (permanent) when the write failed.
        """
        if not records:
            return {}
        try:
            refused = await self._sink.submit_scores(records)
        except Exception as exc:
            INGESTION_METRICS.scores("scores", "storage", len(records))
            raise write_failure(exc) from exc
        INGESTION_METRICS.scores("scores", "too_large", len(refused))
        INGESTION_METRICS.scores("scores", "accepted", len(records) - len(refused))
        if refused:
            log.warning("refused %d scores: %s", len(refused), list(refused.values())[:3])
        return refused


class ScoreReads:
    """The score read routes over ``repo``."""

    def __init__(self, repo: ScoreRepository, keys: KeyStore) -> None:
        self.repo = repo
        self.keys = keys

    def routes(self) -> list[Route]:
        """v2 list and get, v3 list."""
        return [
            DocumentedRoute("/api/public/v2/scores", self.list_v2, OPERATIONS["list_v2"]),
            DocumentedRoute("/api/public/v2/scores/{score_id}", self.get_v2, OPERATIONS["get_v2"]),
            DocumentedRoute("/api/public/v3/scores", self.list_v3, OPERATIONS["list_v3"]),
        ]

    async def list_v2(self, request: Request) -> Response:
        """A page of scores, newest first, each with a summary of its trace."""
        project = await authenticate(self.keys, request)
        page = parse_page(request.query_params)
        flt = parse_score_filter(request.query_params)
        rows, total = await run_in_threadpool(self.repo.list_v2, project.id, flt, page)
        data = [score_v2_json(row) for row in rows]
        if flt.with_trace:
            ids = sorted({row["trace_id"] for row in rows if row["trace_id"]})
            traces = await run_in_threadpool(self.repo.trace_summaries, project.id, ids)
            for item, row in zip(data, rows, strict=True):
                item["trace"] = trace_summary_json(traces.get(row["trace_id"] or ""))
        return JSONResponse({"data": data, "meta": page.meta(total)})

    async def get_v2(self, request: Request) -> Response:
        """One score."""
        project = await authenticate(self.keys, request)
        score_id = request.path_params["score_id"]
        row = await run_in_threadpool(self.repo.get, project.id, score_id)
        if row is None:
            raise HTTPError(404, f"Score {score_id} not found within authorized project")
        return JSONResponse(score_v2_json(row))

    async def list_v3(self, request: Request) -> Response:
        """Scores newest first with cursor pagination."""
        project = await authenticate(self.keys, request)
        q = parse_v3_query(request.query_params)
        rows = await run_in_threadpool(self.repo.list_v3, project.id, q)
        meta: dict[str, Any] = {"limit": q.limit}
        if len(rows) > q.limit:
            rows = rows[: q.limit]
            meta["cursor"] = encode_cursor(int(rows[-1]["timestamp_us"]), rows[-1]["id"])
        return JSONResponse({"data": [score_v3_json(row, q.fields) for row in rows], "meta": meta})
