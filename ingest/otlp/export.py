"""The transport-independent half of the OTLP trace receiver.

Both transports (``otlp_grpc``, ``otlp_http``) authenticate, decode, then call
``TraceExport.export``: map every span to an observation record, hand the records to the
pipeline and wait until they are written, then build the ``ExportTraceServiceResponse`` —
with ``partial_success`` when some spans were rejected (docs/reference/otlp.md §1.4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingest.archive_hook import PROTOBUF, ArchivedRequest, Archiving
from ingest.mapping import IngestContext, map_export_request
from ingest.otlp.decoded import DecodedRequest
from ingest.sinks import RecordSink, ScoreSink
from ingest.telemetry import RECEIVER_METRICS
from processors.pipeline import Overloaded
from storage.auth import KeyStore, Project, authenticate_async

__all__ = ["MAX_PARTIAL_SUCCESS_MESSAGE", "TraceExport"]

log = logging.getLogger(__name__)

MAX_PARTIAL_SUCCESS_MESSAGE = 4096
"""Characters of rejection reasons returned in ``partial_success.error_message``."""


@dataclass(slots=True)
class TraceExport:
    """Authenticate, admit, map and submit one OTLP trace export.

    ``scores`` receives the scores of ``gen_ai.evaluation.result`` span events
    (``ingest.mapping.evaluation``); without it they are not stored. ``archive`` keeps the
    accepted requests in the raw archive (``ingest.archive_hook``); without it nothing is
    archived.
    """

    sink: RecordSink
    keys: KeyStore
    scores: ScoreSink | None = None
    archive: Archiving | None = None

    async def authenticate_async(self, authorization: str | None) -> Project:
        """The project of an ``Authorization`` value, without blocking the loop (PostgreSQL key
        store); raises ``Unauthenticated``, or ``RetryableError`` when the key store is
        unavailable."""
        return await authenticate_async(self.keys, authorization)

    def admit(self, transport: str) -> None:
        """Refuse work before decoding when the queue is full (collector's memory_limiter idea).

        Raises:
            Overloaded: retryable; the transport answers 503 / UNAVAILABLE.
        """
        if not self.sink.has_room():
            raise Overloaded("ingest queue full, retry later", retry_after_s=1.0)
        if self.archive is not None:
            self.archive.admit()

    async def archived(
        self,
        project: Project,
        kind: ArchivedRequest.Kind,
        transport: str,
        request: Message | bytes,
        received_ns: int,
        sdk_name: str = "",
        sdk_version: str = "",
    ) -> None:
        """Archive the decoded OTLP ``request`` (re-encoded as protobuf, or its protobuf
        encoding as received) when archiving is on."""
        if self.archive is not None:
            await self.archive.archive(
                project.id,
                kind,
                transport,
                PROTOBUF,
                request if isinstance(request, bytes) else request.SerializeToString(),
                received_ns=received_ns,
                sdk_name=sdk_name,
                sdk_version=sdk_version,
            )

    async def export(
        self,
        decoded: DecodedRequest,
        project: Project,
        transport: str,
        *,
        sdk_name: str = "",
        sdk_version: str = "",
    ) -> ExportTraceServiceResponse:
        """Map and store ``decoded``; return the OTLP response once every record is written.

        Spans the decoder could not decode (``decoded.rejected``) are rejected in
        ``partial_success`` like spans with invalid ids.

        Raises:
            Overloaded, RetryableError: retryable (the whole request may be resent).
            PermanentError: the batch can never be written.
        """
        received_ns = time.time_ns()
        ctx = IngestContext(project_id=project.id, sdk_name=sdk_name, sdk_version=sdk_version)
        result = map_export_request(
            decoded.request, ctx, now_us=received_ns // 1000, rejected=decoded.rejected
        )
        try:
            refused, _ = await asyncio.gather(
                self.sink.submit(result.records),
                self.archived(
                    project,
                    ArchivedRequest.OTLP_TRACES,
                    transport,
                    decoded.request if decoded.encoded is None else decoded.encoded,
                    received_ns,
                    sdk_name,
                    sdk_version,
                ),
            )
            if result.scores and self.scores is not None:
                await self.scores.submit_scores(result.scores)
        except Exception:
            RECEIVER_METRICS.refused(transport, "storage", len(result.records))
            raise
        RECEIVER_METRICS.accepted(transport, len(result.records) - len(refused))
        response = ExportTraceServiceResponse()
        if result.rejected_spans:
            RECEIVER_METRICS.refused(transport, "invalid_span", result.rejected_spans)
        if refused:
            RECEIVER_METRICS.refused(transport, "too_large", len(refused))
        rejected = result.rejected_spans + len(refused)
        if rejected:
            message = "; ".join([*result.errors, *list(refused.values())[:10]])
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message[:MAX_PARTIAL_SUCCESS_MESSAGE]
            log.info("rejected %d spans: %s", rejected, message[:500])
        return response
