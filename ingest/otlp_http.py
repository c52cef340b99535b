"""OTLP/HTTP trace receiver (otlp-and-peers.md §1.1–1.6) as Starlette routes.

``POST /v1/traces`` and Langfuse's ``POST /api/public/otel/v1/traces`` accept
``application/x-protobuf`` and ``application/json`` bodies, optionally ``Content-Encoding:
gzip`` (or ``deflate``). The answer uses the request's encoding: an
``ExportTraceServiceResponse`` on success (with ``partial_success`` for rejected spans), a
``google.rpc.Status`` otherwise, with the status codes of ``ingest.status``.
"""

from __future__ import annotations

import logging
import time
import zlib

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingest.export import TraceExport
from ingest.otlp_json import OTLPDecodeError, parse_export_request
from ingest.status import (
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    status_for,
)
from ingest.telemetry import RECEIVER_METRICS

__all__ = ["TRACE_PATHS", "OTLPHTTPReceiver"]

log = logging.getLogger(__name__)

TRACE_PATHS = ("/v1/traces", "/api/public/otel/v1/traces")
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OTLPHTTPReceiver:
    """Starlette endpoint for OTLP/HTTP trace exports.

    Args:
        export: the shared export core (auth, admission, mapping, pipeline).
        max_request_bytes: body limit in bytes, enforced on the wire and after decompression.
    """

    def __init__(self, export: TraceExport, max_request_bytes: int) -> None:
        self._export = export
        self._limit = max_request_bytes

    def routes(self) -> list[Route]:
        """The POST routes for every trace path."""
        return [Route(path, self.traces, methods=["POST"]) for path in TRACE_PATHS]

    async def traces(self, request: Request) -> Response:
        """Handle one export; never raises (every failure becomes an OTLP status response)."""
        started = time.perf_counter()
        content_type = request.headers.get("content-type", "").lower()
        media = JSON if JSON in content_type else PROTOBUF
        outcome = "success"
        try:
            if PROTOBUF not in content_type and JSON not in content_type:
                raise UnsupportedMediaType(
                    f"unsupported Content-Type {content_type or '(none)'!r}; "
                    f"use {PROTOBUF} or {JSON}"
                )
            project = await self._export.authenticate_async(request.headers.get("authorization"))
            self._export.admit("http")
            body = await self._read_body(request)
            RECEIVER_METRICS.request_size.labels("http").observe(len(body))
            body = self._decompress(body, request.headers.get("content-encoding", ""))
            export_request = _decode(body, media)
            response = await self._export.export(
                export_request,
                project,
                "http",
                sdk_name=_header(request, "x-langfuse-sdk-name"),
                sdk_version=_header(request, "x-langfuse-sdk-version"),
            )
            return Response(_encode(response, media), media_type=media)
        except Exception as exc:
            outcome = "failure"
            return self._error(exc, media)
        finally:
            RECEIVER_METRICS.request_duration.labels("http", outcome).observe(
                time.perf_counter() - started
            )

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._limit:
            raise PayloadTooLarge(f"body of {declared} bytes exceeds the {self._limit}-byte limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._limit:
                raise PayloadTooLarge(f"body exceeds the {self._limit}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def _decompress(self, body: bytes, content_encoding: str) -> bytes:
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding == "gzip":
            wbits = 16 + zlib.MAX_WBITS
        elif encoding == "deflate":
            wbits = zlib.MAX_WBITS
        else:
            raise UnsupportedMediaType(
                f"unsupported Content-Encoding {encoding!r}; use gzip or none"
            )
        inflater = zlib.decompressobj(wbits)
        try:
            data = inflater.decompress(body, self._limit + 1)
        except zlib.error as exc:
            raise BadRequest(f"cannot decompress {encoding} body: {exc}") from None
        if len(data) > self._limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed body exceeds the {self._limit}-byte limit")
        if not inflater.eof:
            raise BadRequest(f"truncated {encoding} body")
        return data

    def _error(self, exc: Exception, media: str) -> Response:
        status = status_for(exc)
        RECEIVER_METRICS.refused_request("http", status.http_status)
        if status.http_status >= 500:
            log.warning("export failed (%d): %s", status.http_status, status.message)
        headers = {}
        if status.retry_after_header is not None:
            headers["Retry-After"] = status.retry_after_header
        body = status_pb2.Status(code=status.grpc_code.value[0], message=status.message)
        return Response(
            _encode(body, media), status_code=status.http_status, media_type=media, headers=headers
        )


def _decode(body: bytes, media: str) -> ExportTraceServiceRequest:
    if media == JSON:
        try:
            return parse_export_request(body)
        except OTLPDecodeError as exc:
            raise BadRequest(f"invalid OTLP/JSON body: {exc}") from None
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise BadRequest(f"invalid OTLP protobuf body: {exc}") from None
    return request


def _encode(message: Message, media: str) -> bytes:
    if media == JSON:
        return orjson.dumps(json_format.MessageToDict(message))
    return message.SerializeToString()


def _header(request: Request, name: str) -> str:
    """A Langfuse header in its hyphen or underscore form (langfuse-anchor.md §1.1)."""
    return request.headers.get(name) or request.headers.get(name.replace("-", "_"), "")
