"""Score ingestion: ``POST /api/public/scores`` and the score body rules shared with
``score-create`` ingestion events (langfuse-anchor.md §3.2 ScoreBody, §5 POST /scores,
local-services.md §7 for what the Langfuse Python SDK 5 sends).

Request bodies:

- ONE score object (Langfuse public API): 200 ``{"id": ...}`` once written; an invalid score is
  400 ``{"message": ...}`` naming the field;
- a JSON ARRAY of scores (Langfuse Python SDK 5): the valid ones are written; 202
  ``{"message": "Accepted"}`` when all were valid, else 207 ``{"accepted": n, "rejected": m,
  "errors": [{"index": i, "message": ...}]}``.

Score object: ``{id?, traceId?, sessionId?, observationId?, datasetRunId?, name, value,
comment?, metadata?, environment?, queueId?, configId?, dataType?, source?, timestamp?}``.
``id`` defaults to a uuid4, ``timestamp`` (ISO-8601) to the receive time, ``source`` to
``API``. Value by data type (inferred when absent: number → NUMERIC, string → CATEGORICAL,
boolean → BOOLEAN):

| dataType    | value accepted          | stored value | stored stringValue |
|-------------|-------------------------|--------------|--------------------|
| NUMERIC     | finite number           | the number   | –                  |
| BOOLEAN     | 0, 1, true, false       | 1 / 0        | "True" / "False"   |
| CATEGORICAL | string                  | 0            | the string         |
| CORRECTION  | string (no configId)    | 0            | the string         |
| TEXT        | string of 1..500 chars  | 0            | the string         |

At least one of traceId, sessionId, datasetRunId is required; observationId needs traceId.
``source`` is API or ANNOTATION (EVAL is reserved for evaluators and rejected here; the
ingestion endpoint accepts it). The environment is normalised as for spans. Score configs are
not validated (otelfuse has none). Writing: ``ScoreSink.submit_scores`` returns once the rows
are durable; storage down → 503 + ``Retry-After``; a score the sink refuses for good (scale-out:
larger than a Kafka message) is 413 for a single score, an ``errors`` item for an array.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.ingestion.http import (
    HTTPError,
    JSONResponse,
    authenticate_request,
    read_json,
    storage_error,
)
from ingest.ingestion.telemetry import INGESTION_METRICS
from ingest.ingestion.values import (
    Invalid,
    metadata_map,
    opt_environment,
    opt_str,
    opt_time_us,
)
from processors.batch import ScoreWriterLike
from storage.auth import KeyStore
from storage.records import SCORE_DATA_TYPES, ScoreRecord

__all__ = [
    "MAX_TEXT_SCORE",
    "SCORES_PATH",
    "ScoreSink",
    "ScoreWriterLike",
    "ScoresReceiver",
    "ThreadedScoreSink",
    "parse_score",
]

log = logging.getLogger(__name__)

SCORES_PATH = "/api/public/scores"
MAX_TEXT_SCORE = 500
"""Longest TEXT score value (characters)."""

_API_SOURCES = ("API", "ANNOTATION")
_ALL_SOURCES = ("API", "EVAL", "ANNOTATION")
_STRING_TYPES = frozenset({"CATEGORICAL", "CORRECTION", "TEXT"})


class ScoreSink(Protocol):
    """Where score receivers hand validated scores; returns once they are durable."""

    async def submit_scores(self, records: Sequence[ScoreRecord]) -> Mapping[int, str]:
        """Store ``records``; return the reason for each record refused for good (too large to
        ever be stored), by its index in ``records``; the others are durable.

        Raises:
            RetryableError: nothing of this call is guaranteed durable; the client retries.
            PermanentError: the records can never be stored.
        """
        ...


@dataclass(slots=True)
class ThreadedScoreSink:
    """All-in-one sink: ``ScoreWriter.write_scores`` in a worker thread."""

    writer: ScoreWriterLike

    async def submit_scores(self, records: Sequence[ScoreRecord]) -> dict[int, str]:
        """Write ``records`` off the event loop; returns ``{}`` after the insert succeeded."""
        if records:
            await asyncio.to_thread(self.writer.write_scores, list(records))
        return {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _data_type(body: dict[str, Any], value: Any) -> str:
    raw = opt_str(body, "dataType")
    if raw is not None:
        if raw not in SCORE_DATA_TYPES:
            raise Invalid(f"dataType must be one of {', '.join(sorted(SCORE_DATA_TYPES))}")
        return raw
    if isinstance(value, bool):
        return "BOOLEAN"
    if _is_number(value):
        return "NUMERIC"
    if isinstance(value, str):
        return "CATEGORICAL"
    raise Invalid("value must be a number or a string")


def _set_value(record: ScoreRecord, data_type: str, value: Any, config_id: str | None) -> None:
    if data_type == "NUMERIC":
        if not _is_number(value) or not math.isfinite(value):
            raise Invalid("value of a NUMERIC score must be a finite number")
        record.value = float(value)
    elif data_type == "BOOLEAN":
        if value not in (0, 1) or not (isinstance(value, bool) or _is_number(value)):
            raise Invalid("value of a BOOLEAN score must be 0, 1, true or false")
        record.value = 1.0 if value else 0.0
        record.string_value = "True" if value else "False"
    else:
        if not isinstance(value, str):
            raise Invalid(f"value of a {data_type} score must be a string")
        if data_type == "TEXT" and not 1 <= len(value) <= MAX_TEXT_SCORE:
            raise Invalid(f"value of a TEXT score must have 1..{MAX_TEXT_SCORE} characters")
        if data_type == "CORRECTION" and config_id is not None:
            raise Invalid("configId is not allowed on CORRECTION scores")
        record.value = 0.0
        record.string_value = value


def _source(body: dict[str, Any], allow_eval: bool) -> str:
    raw = opt_str(body, "source")
    if raw is None:
        return "API"
    allowed = _ALL_SOURCES if allow_eval else _API_SOURCES
    if raw not in allowed:
        reason = " (EVAL is reserved for evaluators)" if raw == "EVAL" else ""
        raise Invalid(f"source must be {' or '.join(allowed)}{reason}, got {raw!r}")
    return raw


def parse_score(
    body: Any, project_id: str, *, now_us: int, allow_eval: bool = False
) -> ScoreRecord:
    """Validate one score object and build its ``ScoreRecord`` (rules: module docstring).

    Args:
        body: the decoded JSON value.
        project_id: the authenticated project.
        now_us: receive time, Unix µs (default timestamp).
        allow_eval: accept ``source = EVAL`` (ingestion events); POST /scores rejects it.

    Raises:
        Invalid: the message names the offending field.
    """
    if not isinstance(body, dict):
        raise Invalid("a score must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name is required and must be a non-empty string")
    if "value" not in body or body["value"] is None:
        raise Invalid("value is required")
    ids = {
        field: opt_str(body, camel)
        for field, camel in (
            ("trace_id", "traceId"),
            ("session_id", "sessionId"),
            ("observation_id", "observationId"),
            ("dataset_run_id", "datasetRunId"),
        )
    }
    if not (ids["trace_id"] or ids["session_id"] or ids["dataset_run_id"]):
        raise Invalid("one of traceId, sessionId or datasetRunId is required")
    if ids["observation_id"] and not ids["trace_id"]:
        raise Invalid("observationId requires traceId")
    value = body["value"]
    data_type = _data_type(body, value)
    config_id = opt_str(body, "configId")
    timestamp = opt_time_us(body, "timestamp")
    record = ScoreRecord(
        project_id=project_id,
        id=opt_str(body, "id") or str(uuid.uuid4()),
        timestamp_us=now_us if timestamp is None else timestamp,
        name=name,
        data_type=data_type,
        source=_source(body, allow_eval),
        environment=opt_environment(body) or "default",
        metadata=metadata_map(body.get("metadata")),
    )
    _set_value(record, data_type, value, config_id)
    optional = {
        **ids,
        "comment": opt_str(body, "comment"),
        "config_id": config_id,
        "queue_id": opt_str(body, "queueId"),
    }
    for field, text in optional.items():
        if text:
            setattr(record, field, text)
    return record


class ScoresReceiver:
    """``POST /api/public/scores`` (module docstring).

    Args:
        sink: where validated scores are written.
        keys: API keys (Basic auth, project-scoped).
        max_request_bytes: body limit, also after gzip decompression.
    """

    def __init__(self, sink: ScoreSink, keys: KeyStore, max_request_bytes: int) -> None:
        self._sink = sink
        self._keys = keys
        self._limit = max_request_bytes

    def routes(self) -> list[Route]:
        """The POST route."""
        return [Route(SCORES_PATH, self.create, methods=["POST"])]

    async def create(self, request: Request) -> Response:
        """Validate and store one score or an array of scores; never raises."""
        try:
            project = await authenticate_request(self._keys, request)
            body = await read_json(request, self._limit)
            now_us = time.time_ns() // 1000
            if isinstance(body, list):
                return await self._create_many(body, project.id, now_us)
            try:
                record = parse_score(body, project.id, now_us=now_us)
            except Invalid as exc:
                INGESTION_METRICS.scores("scores", "invalid")
                raise HTTPError(400, str(exc)) from None
            refused = await self._store([record])
            if refused:
                raise HTTPError(413, refused[0])
            return JSONResponse({"id": record.id})
        except HTTPError as exc:
            return exc.response()

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
            raise storage_error(exc) from exc
        INGESTION_METRICS.scores("scores", "too_large", len(refused))
        INGESTION_METRICS.scores("scores", "accepted", len(records) - len(refused))
        if refused:
            log.warning("refused %d scores: %s", len(refused), list(refused.values())[:3])
        return refused
