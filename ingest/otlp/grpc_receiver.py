"""OTLP/gRPC trace receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

Credentials travel as the ``authorization`` metadata key (same Basic value as over HTTP).
grpcio enforces the size limit (``grpc.max_receive_message_length``, after decompression) with
RESOURCE_EXHAUSTED; overload and storage outages answer UNAVAILABLE with a
``google.rpc.RetryInfo`` detail so exporters retry (docs/reference/otlp.md §1.5).

The method is registered with a generic handler that hands over the request's bytes, so the
credentials are checked and the queue admits the request before anything is parsed, and a
message that does not parse answers INVALID_ARGUMENT through the status table (grpcio's own
deserializer would answer UNKNOWN and log a traceback).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingest.errors import BadRequest, status_for
from ingest.memory_limiter import MEMORY_LIMITER
from ingest.otlp.decoded import DecodedRequest, OTLPDecodeError
from ingest.otlp.export import TraceExport
from ingest.otlp.protobuf_codec import decode_protobuf_request
from ingest.telemetry import RECEIVER_METRICS
from storage.auth import Project

__all__ = [
    "EXPORT_METHOD",
    "SERVER_OPTIONS",
    "TRACE_SERVICE",
    "Handle",
    "TraceServicer",
    "create_server",
    "serve",
]

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
EXPORT_METHOD = "Export"

log = logging.getLogger(__name__)


Handle = Callable[[bytes, Project, Mapping[str, str | bytes]], Awaitable[Message]]
"""Parse and store one request's bytes for the authenticated project (with the call's
metadata); return the response message (raises what ``ingest.errors`` answers)."""


async def serve(
    core: TraceExport, body: bytes, context: grpc.aio.ServicerContext, handle: Handle
) -> Message:
    """The OTLP/gRPC steps of every signal: credentials, admission (queue and memory budget),
    then ``handle``; on failure abort with the status of ``ingest.errors`` (UNAVAILABLE with
    ``RetryInfo`` when retryable).
    """
    started = time.perf_counter()
    metadata = {key: value for key, value in context.invocation_metadata() or ()}
    RECEIVER_METRICS.request_size.labels("grpc").observe(len(body))
    try:
        project = await core.authenticate_async(_text(metadata.get("authorization")))
        core.admit("grpc")
        with MEMORY_LIMITER.reserve(len(body)):
            response = await handle(body, project, metadata)
    except Exception as exc:
        RECEIVER_METRICS.request_duration.labels("grpc", "failure").observe(
            time.perf_counter() - started
        )
        status = status_for(exc)
        RECEIVER_METRICS.refused_request("grpc", status.http_status)
        if status.http_status >= 500:
            log.warning(
                "export failed (%s): %s", code_pb2.Code.Name(status.grpc_code), status.message
            )
        rich = status_pb2.Status(code=status.grpc_code, message=status.message)
        if status.retry_after_s is not None:
            info = error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(seconds=int(status.retry_after_s) or 1)
            )
            rich.details.add().Pack(info)
        await context.abort_with_status(rpc_status.to_status(rich))
        raise  # unreachable: abort_with_status raises
    RECEIVER_METRICS.request_duration.labels("grpc", "success").observe(
        time.perf_counter() - started
    )
    return response


class TraceServicer:
    """The ``Export`` method over the shared ``TraceExport``, taking the request's bytes."""

    def __init__(self, export: TraceExport) -> None:
        self._export = export

    async def export(
        self, body: bytes, context: grpc.aio.ServicerContext
    ) -> ExportTraceServiceResponse:
        """Authenticate, admit, parse and store one export; abort with the OTLP status code
        on failure."""
        response = await serve(self._export, body, context, self._handle)
        assert isinstance(response, ExportTraceServiceResponse)
        return response

    async def _handle(
        self, body: bytes, project: Project, metadata: Mapping[str, str | bytes]
    ) -> ExportTraceServiceResponse:
        return await self._export.export(
            _parse(body),
            project,
            "grpc",
            sdk_name=_text(metadata.get("x-langfuse-sdk-name")),
            sdk_version=_text(metadata.get("x-langfuse-sdk-version")),
        )


def _parse(body: bytes) -> DecodedRequest:
    try:
        return decode_protobuf_request(body)
    except OTLPDecodeError as exc:
        raise BadRequest(str(exc)) from None


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


SERVER_OPTIONS: dict[str, int] = {
    # answers are small ExportTraceServiceResponse messages
    "grpc.max_send_message_length": 4 * 1024 * 1024,
    # HTTP/2 streams (concurrent RPCs) per connection; RFC 9113 §6.5.2 suggests at least 100
    "grpc.max_concurrent_streams": 100,
    # a connection must finish its HTTP/2 handshake within 10 s (default 120 s): the gRPC
    # counterpart of the HTTP header timeout (ingest/http/server.py)
    "grpc.server_handshake_timeout_ms": 10_000,
    # idle connections are closed after 5 min (GOAWAY; clients reconnect on their next export)
    "grpc.max_connection_idle_ms": 300_000,
    # every connection is recycled after 10 min (+30 s to finish its RPCs), so long-lived
    # exporter connections spread over new receiver pods behind an L4 load balancer
    "grpc.max_connection_age_ms": 600_000,
    "grpc.max_connection_age_grace_ms": 30_000,
    # ping an idle client every 60 s and drop it when it does not answer within 20 s
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    # accept client keepalive pings down to one every 10 s (default 5 min answers GOAWAY
    # "too_many_pings" to exporters configured with a 30 s keepalive)
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
}
"""grpc core channel arguments of the OTLP/gRPC server (gRPC Core ``grpc_types.h`` and
"Keepalive" guide); with ``grpc.max_receive_message_length`` = the request limit. There is no
``maximum_concurrent_rpcs``: grpcio answers it with RESOURCE_EXHAUSTED without RetryInfo, which
exporters drop; overload is refused by the queue's admission with UNAVAILABLE instead."""


def create_server(
    export: TraceExport,
    address: str,
    max_request_bytes: int,
    handlers: Sequence[grpc.GenericRpcHandler] = (),
    *,
    reuse_port: bool = False,
) -> grpc.aio.Server:
    """Build (not start) a grpc.aio server bound to ``address`` ("host:port"), with
    ``SERVER_OPTIONS``, serving the trace service and ``handlers`` (other signals, e.g.
    ``logs_grpc.logs_handler``). ``reuse_port``: bind with ``SO_REUSEPORT``
    (``grpc.so_reuseport``), so that the all-in-one's worker processes share the port and the
    kernel spreads the connections over them.

    Raises:
        RuntimeError: the address cannot be bound.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            *SERVER_OPTIONS.items(),
            *([("grpc.so_reuseport", 1)] if reuse_port else []),
        ]
    )
    method = grpc.unary_unary_rpc_method_handler(
        TraceServicer(export).export,
        request_deserializer=None,  # the bytes as received: parsed after the credential check
        response_serializer=ExportTraceServiceResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(TRACE_SERVICE, {EXPORT_METHOD: method}), *handlers)
    )
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"cannot bind OTLP/gRPC receiver to {address}")
    return server
