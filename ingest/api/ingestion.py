"""``POST /api/public/ingestion``: Langfuse's legacy batch endpoint
(docs/reference/langfuse.md §3.2).

Request: ``{"batch": [event, ...], "metadata"?: any}`` with Basic auth (JSON, optionally gzip).
Response: **207** ``{"successes": [{"id", "status": 201}], "errors": [{"id", "status",
"message"}]}`` keyed by envelope id, once every accepted event is durable:

- invalid events (``ingest.ingestion.events``): ``status`` 400, the others proceed;
- observation and trace events go, in processing order and in ONE submission, through the
  same ``RecordSink`` as OTLP spans (all-in-one: the ``Pipeline``, whose process step merges
  partial records onto stored rows, writes trace-only records, then enriches and writes);
- score events go to the ``ScoreSink``; ``sdk-log`` events are logged and reported 201;
- a record the sink refuses for good (scale-out: larger than a Kafka message): the events that
  made it get ``status`` 413 with the reason;
- storage rejecting data for good: the affected events get ``status`` 500;
- storage unavailable or queue full: the whole request is answered 503 + ``Retry-After``, so the
  client resends the batch (merges are idempotent, scores are upserts).

Request-level errors: 400 body not ``{batch: [...]}`` or not JSON, 401 credentials, 413 too
large (the ``max_request_bytes`` setting), 415 encoding.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.archive_hook import JSON, ArchivedRequest, Archiving
from ingest.errors import HTTPError, write_failure
from ingest.http.auth import authenticate
from ingest.http.body import parse_json, read_body
from ingest.http.headers import langfuse_header
from ingest.http.openapi import WRITE_ERROR_TEXTS, DocumentedRoute, Operation, error_responses
from ingest.http.responses import JSONResponse
from ingest.ingestion.events import ParsedBatch, parse_batch
from ingest.ingestion.telemetry import INGESTION_METRICS
from ingest.mapping.context import IngestContext
from ingest.memory_limiter import MEMORY_LIMITER
from ingest.sinks import RecordSink, ScoreSink
from storage.auth import KeyStore
from storage.errors import PermanentError
from storage.query.schemas import IngestionResult

__all__ = ["INGESTION_PATH", "OPERATION", "Ingestion"]

log = logging.getLogger(__name__)

INGESTION_PATH = "/api/public/ingestion"

OPERATION = Operation(
    "post",
    INGESTION_PATH,
    "Langfuse batch ingestion: {batch: [event], metadata?}",
    {
        "207": (IngestionResult, "per-event results (envelope ids)"),
        **error_responses(("400", "401", "413", "415", "503"), WRITE_ERROR_TEXTS),
    },
    request_body={
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
)


class Ingestion:
    """The batch endpoint (module docstring).

    Args:
        sink: the record sink shared with the OTLP receivers.
        scores: where score events are written.
        keys: API keys (Basic auth, project-scoped).
        max_request_bytes: body limit, also after gzip decompression.
        archive: keeps accepted batches (the inflated JSON body) in the raw archive.
    """

    def __init__(
        self,
        sink: RecordSink,
        scores: ScoreSink,
        keys: KeyStore,
        max_request_bytes: int,
        archive: Archiving | None = None,
    ) -> None:
        self._sink = sink
        self._scores = scores
        self._keys = keys
        self._limit = max_request_bytes
        self._archive = archive

    def routes(self) -> list[Route]:
        """The POST route."""
        return [DocumentedRoute(INGESTION_PATH, self.ingest, OPERATION)]

    async def ingest(self, request: Request) -> Response:
        """Handle one batch.

        Raises:
            HTTPError: 503 queue full or storage unavailable, 400 not a batch; and what
                ``authenticate`` and ``read_json`` raise.
        """
        project = await authenticate(self._keys, request)
        if not self._sink.has_room():
            raise HTTPError(503, "ingest queue full, retry later", {"Retry-After": "1"})
        if self._archive is not None and not self._archive.target.has_room():
            raise HTTPError(503, "archive queue full, retry later", {"Retry-After": "1"})
        raw = await read_body(request, self._limit)
        with MEMORY_LIMITER.reserve(len(raw)):
            body = parse_json(raw)
            if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
                raise HTTPError(400, 'body must be {"batch": [event, ...], "metadata"?: ...}')
            ctx = IngestContext(
                project_id=project.id,
                sdk_name=langfuse_header(request, "x-langfuse-sdk-name"),
                sdk_version=langfuse_header(request, "x-langfuse-sdk-version"),
            )
            received_ns = time.time_ns()
            parsed = parse_batch(body["batch"], ctx, now_us=received_ns // 1000)
            result, _ = await asyncio.gather(
                self._store(parsed), self._archived(ctx, raw, received_ns)
            )
            return JSONResponse(result, status_code=207)

    async def _archived(self, ctx: IngestContext, raw: bytes, received_ns: int) -> None:
        if self._archive is not None:
            await self._archive.archive(
                ctx.project_id,
                ArchivedRequest.LANGFUSE_INGESTION,
                "http",
                JSON,
                raw,
                received_ns=received_ns,
                sdk_name=ctx.sdk_name,
                sdk_version=ctx.sdk_version,
            )

    async def _store(self, parsed: ParsedBatch) -> dict[str, Any]:
        records = [record for _, _, record in parsed.records]
        scores = [record for _, _, record in parsed.scores]
        outcomes = await asyncio.gather(
            self._sink.submit(records) if records else _nothing(),
            self._scores.submit_scores(scores) if scores else _nothing(),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, PermanentError):
                for _, event_type, _ in (*parsed.records, *parsed.scores):
                    INGESTION_METRICS.event(event_type, "storage")
                raise write_failure(outcome)
        successes: list[dict[str, Any]] = []
        errors = list(parsed.errors)
        events = [(event_id, event_type) for event_id, event_type, _ in parsed.records]
        score_events = [(event_id, event_type) for event_id, event_type, _ in parsed.scores]
        for entries, outcome in ((events, outcomes[0]), (score_events, outcomes[1])):
            for index, (event_id, event_type) in enumerate(entries):
                if isinstance(outcome, PermanentError):
                    INGESTION_METRICS.event(event_type, "storage")
                    errors.append({"id": event_id, "status": 500, "message": str(outcome)})
                elif isinstance(outcome, Mapping) and index in outcome:
                    INGESTION_METRICS.event(event_type, "too_large")
                    errors.append({"id": event_id, "status": 413, "message": outcome[index]})
                else:
                    INGESTION_METRICS.event(event_type, "accepted")
                    successes.append({"id": event_id, "status": 201})
        for event_id in parsed.logged:
            INGESTION_METRICS.event("sdk-log", "accepted")
            successes.append({"id": event_id, "status": 201})
        scores_outcome = outcomes[1]
        if isinstance(scores_outcome, Mapping):
            INGESTION_METRICS.scores("ingestion", "too_large", len(scores_outcome))
            INGESTION_METRICS.scores("ingestion", "accepted", len(scores) - len(scores_outcome))
        if len(errors) > len(parsed.errors):
            log.warning(
                "refused %d ingestion events: %s",
                len(errors) - len(parsed.errors),
                errors[len(parsed.errors) :][:3],
            )
        return {"successes": successes, "errors": errors}


async def _nothing() -> dict[int, str]:
    return {}
