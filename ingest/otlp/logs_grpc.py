"""OTLP/gRPC logs receiver: ``opentelemetry.proto.collector.logs.v1.LogsService/Export``
(docs/mapping.md "GenAI event log records").

Served by the trace receiver's server (``grpc_receiver.create_server(handlers=...)``) with the
same steps (``grpc_receiver.serve``): the request's bytes are taken raw, credentials and
admission are checked before parsing, a body that does not parse answers INVALID_ARGUMENT, and
overload answers UNAVAILABLE with ``RetryInfo``.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from ingest.otlp.grpc_receiver import EXPORT_METHOD, serve
from ingest.otlp.logs_export import LogsExport
from ingest.otlp.logs_http import decode_logs
from storage.auth import Project

__all__ = ["LOGS_SERVICE", "LogsServicer", "logs_handler"]

LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"


class LogsServicer:
    """The ``Export`` method over a ``LogsExport``, taking the request's bytes."""

    def __init__(self, logs: LogsExport) -> None:
        self._logs = logs

    async def export(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> ExportLogsServiceResponse:
        """Authenticate, admit, parse and store one logs export; abort with the OTLP status
        code on failure."""
        response = await serve(self._logs.core, body, context, self._handle)
        assert isinstance(response, ExportLogsServiceResponse)
        return response

    async def _handle(
        self, body: bytes, project: Project, _: Mapping[str, str | bytes]
    ) -> ExportLogsServiceResponse:
        return await self._logs.export(decode_logs(body, json=False), project, "grpc")


def logs_handler(logs: LogsExport) -> grpc.GenericRpcHandler:
    """The generic handler of ``LogsService/Export`` for ``grpc_receiver.create_server``."""
    method = grpc.unary_unary_rpc_method_handler(
        LogsServicer(logs).export,
        request_deserializer=None,  # the bytes as received: parsed after the credential check
        response_serializer=ExportLogsServiceResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(LOGS_SERVICE, {EXPORT_METHOD: method})
