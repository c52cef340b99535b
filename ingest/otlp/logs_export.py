"""The transport-independent half of the OTLP logs receiver (docs/mapping.md "GenAI event log
records").

Both transports (``logs_http``, ``grpc_receiver``) authenticate and admit through the trace
export core (same keys, same queue, same answers), decode, then call ``LogsExport.export``:
map the log records (``ingest.mapping.logs``), hand the input/output records to the record sink
(keyed by trace id like spans, so they meet their span in one partition) and the scores to the
score sink, wait until both are durable, then build the ``ExportLogsServiceResponse`` with
``partial_success.rejected_log_records`` for every refused record (OTLP specification, "Partial
Success"; docs/reference/otlp.md §1.4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from ingest.archive_hook import ArchivedRequest
from ingest.mapping.context import IngestContext
from ingest.mapping.logs import map_logs_request
from ingest.otlp.export import MAX_PARTIAL_SUCCESS_MESSAGE, TraceExport
from ingest.sinks import ScoreSink
from ingest.telemetry import RECEIVER_METRICS
from storage.auth import Project

__all__ = ["LogsExport"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LogsExport:
    """Map and submit one OTLP logs export.

    Args:
        core: the trace export core: credentials, admission control and the record sink.
        scores: where evaluation results go (the score sink of the role).
    """

    core: TraceExport
    scores: ScoreSink

    async def export(
        self, request: ExportLogsServiceRequest, project: Project, transport: str
    ) -> ExportLogsServiceResponse:
        """Store the GenAI events of ``request``; return the OTLP response once they are
        durable.

        Raises:
            Overloaded, RetryableError: retryable (the whole request may be resent: records
                merge idempotently, scores have deterministic ids).
            PermanentError: the data can never be written.
        """
        received_ns = time.time_ns()
        ctx = IngestContext(project_id=project.id)
        result = map_logs_request(request, ctx, now_us=received_ns // 1000)
        try:
            refused, _ = await asyncio.gather(
                self.core.sink.submit(result.records) if result.records else _nothing(),
                self.core.archived(
                    project, ArchivedRequest.OTLP_LOGS, transport, request, received_ns
                ),
            )
            refused_scores = await self.scores.submit_scores(result.scores) if result.scores else {}
        except Exception:
            RECEIVER_METRICS.refused_logs(transport, "storage", result.accepted)
            raise
        too_large = len(refused) + len(refused_scores)
        RECEIVER_METRICS.accepted_logs(transport, max(0, result.accepted - too_large))
        RECEIVER_METRICS.refused_logs(transport, "not_genai", result.not_genai)
        RECEIVER_METRICS.refused_logs(transport, "invalid_log_record", result.invalid)
        RECEIVER_METRICS.refused_logs(transport, "too_large", too_large)
        response = ExportLogsServiceResponse()
        rejected = result.rejected + too_large
        if rejected:
            reasons = [*result.errors, *list(refused.values())[:5]]
            message = "; ".join([*reasons, *list(refused_scores.values())[:5]])
            response.partial_success.rejected_log_records = rejected
            response.partial_success.error_message = message[:MAX_PARTIAL_SUCCESS_MESSAGE]
            log.info("rejected %d log records: %s", rejected, message[:500])
        return response


async def _nothing() -> dict[int, str]:
    return {}
