"""OTLP/HTTP logs receiver: ``POST /v1/logs`` and ``/api/public/otel/v1/logs``
(docs/reference/otlp.md §1.1; docs/mapping.md "GenAI event log records").

The same steps and answers as the trace routes (``http_receiver.OTLPHTTPReceiver.handle``:
content type, credentials, admission, body limit on the wire and after gzip, status table of
``ingest.errors``); the body is an ``ExportLogsServiceRequest`` (protobuf or OTLP/JSON) and the
answer an ``ExportLogsServiceResponse`` in the request's encoding.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from starlette.requests import Request
from starlette.responses import Response

from ingest.errors import BadRequest
from ingest.http.openapi import DocumentedRoute
from ingest.otlp.http_receiver import JSON, OTLPHTTPReceiver, operation
from ingest.otlp.json_codec import OTLPDecodeError, parse_logs_request
from ingest.otlp.logs_export import LogsExport
from storage.auth import Project

__all__ = ["LOG_PATHS", "OTLPHTTPLogsReceiver"]

LOG_PATHS = ("/v1/logs", "/api/public/otel/v1/logs")


class OTLPHTTPLogsReceiver:
    """Starlette endpoint for OTLP/HTTP log exports.

    Args:
        logs: the logs export core.
        max_request_bytes: body limit in bytes, enforced on the wire and after decompression.
    """

    def __init__(self, logs: LogsExport, max_request_bytes: int) -> None:
        self._logs = logs
        self._http = OTLPHTTPReceiver(logs.core, max_request_bytes)

    def routes(self) -> list[DocumentedRoute]:
        """The POST routes for every logs path."""
        return [
            DocumentedRoute(path, self.logs, operation(path, "logs", "ExportLogsServiceRequest"))
            for path in LOG_PATHS
        ]

    async def logs(self, request: Request) -> Response:
        """Handle one logs export; never raises."""
        return await self._http.handle(request, self._export)

    async def _export(self, body: bytes, media: str, project: Project, _: Request) -> Message:
        return await self._logs.export(decode_logs(body, media == JSON), project, "http")


def decode_logs(body: bytes, json: bool) -> ExportLogsServiceRequest:
    """An ``ExportLogsServiceRequest`` from OTLP/JSON or binary protobuf.

    Raises:
        BadRequest: the body does not decode (HTTP 400 / INVALID_ARGUMENT).
    """
    if json:
        try:
            return parse_logs_request(body)
        except OTLPDecodeError as exc:
            raise BadRequest(f"invalid OTLP/JSON body: {exc}") from None
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise BadRequest(f"invalid OTLP protobuf body: {exc}") from None
    return request
