"""OTLP/HTTP trace receiver (docs/reference/otlp.md §1.1–1.6) as Starlette routes.

``POST /v1/traces`` and Langfuse's ``POST /api/public/otel/v1/traces`` accept
``application/x-protobuf`` and ``application/json`` bodies, optionally ``Content-Encoding:
gzip`` (or ``deflate``). Spans that cannot be decoded are rejected one by one in
``partial_success`` (``ingest.otlp.protobuf_codec``, ``ingest.otlp.json_codec``). The answer
uses the request's encoding: an ``ExportTraceServiceResponse`` on success (with
``partial_success`` for rejected spans), a ``google.rpc.Status`` otherwise, with the status
codes of ``ingest.errors``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from starlette.requests import Request
from starlette.responses import Response

from ingest.errors import BadRequest, UnsupportedMediaType, status_for
from ingest.http.body import inflate, read_body
from ingest.http.headers import langfuse_header
from ingest.http.openapi import DocumentedRoute, Operation, ref
from ingest.memory_limiter import MEMORY_LIMITER
from ingest.otlp.decoded import DecodedRequest, OTLPDecodeError
from ingest.otlp.export import TraceExport
from ingest.otlp.json_codec import decode_json_request
from ingest.otlp.protobuf_codec import decode_protobuf_request
from ingest.telemetry import RECEIVER_METRICS
from storage.auth import Project

__all__ = ["JSON", "PROTOBUF", "TRACE_PATHS", "ExportBody", "OTLPHTTPReceiver", "operation"]

log = logging.getLogger(__name__)

TRACE_PATHS = ("/v1/traces", "/api/public/otel/v1/traces")
PROTOBUF = "application/x-protobuf"
JSON = "application/json"

ExportBody = Callable[[bytes, str, Project, Request], Awaitable[Message]]
"""Decode and store an inflated body of the given media type for the authenticated project;
return the OTLP response message (raises what ``ingest.errors`` answers)."""


def operation(
    path: str, signal: str = "trace", message: str = "ExportTraceServiceRequest"
) -> Operation:
    """The OpenAPI description of an OTLP/HTTP export route (``signal``: trace or logs)."""
    binary = {"application/x-protobuf": {"schema": {"type": "string", "format": "binary"}}}
    status = {**binary, "application/json": {"schema": ref("OtlpStatus")}}
    texts = {
        "200": message.replace("Request", "Response"),
        "400": "undecodable body",
        "401": "missing or invalid Basic credentials",
        "413": "body too large",
        "415": "unsupported Content-Type or Content-Encoding",
        "500": "storage rejected the data",
        "503": "overloaded or storage down; retry after Retry-After",
    }
    return Operation(
        "post",
        path,
        f"OTLP/HTTP {signal} export ({message}, optional gzip)",
        {code: {"description": text, "content": status} for code, text in texts.items()},
        request_body={
            "required": True,
            "content": {**binary, "application/json": {"schema": {"type": "object"}}},
        },
        schemas={
            "OtlpStatus": {
                "type": "object",
                "description": "google.rpc.Status (JSON mapping) or its protobuf encoding",
            }
        },
    )


class OTLPHTTPReceiver:
    """Starlette endpoint for OTLP/HTTP trace exports.

    Args:
        export: the shared export core (auth, admission, mapping, pipeline).
        max_request_bytes: body limit in bytes, enforced on the wire and after decompression.
    """

    def __init__(self, export: TraceExport, max_request_bytes: int) -> None:
        self._export = export
        self._limit = max_request_bytes

    def routes(self) -> list[DocumentedRoute]:
        """The POST routes for every trace path."""
        return [DocumentedRoute(path, self.traces, operation(path)) for path in TRACE_PATHS]

    async def traces(self, request: Request) -> Response:
        """Handle one trace export; never raises (every failure becomes an OTLP status
        response)."""
        return await self.handle(request, self._export_traces)

    async def _export_traces(
        self, body: bytes, media: str, project: Project, request: Request
    ) -> Message:
        return await self._export.export(
            _decode(body, media),
            project,
            "http",
            sdk_name=langfuse_header(request, "x-langfuse-sdk-name"),
            sdk_version=langfuse_header(request, "x-langfuse-sdk-version"),
        )

    async def handle(self, request: Request, export: ExportBody) -> Response:
        """The OTLP/HTTP steps of every signal: content type, credentials, admission, body
        limit (wire and inflated), then ``export(body, media, project, request)``, whose
        response message is encoded like the request; never raises."""
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
            body = await read_body(request, self._limit, decompress=False)
            RECEIVER_METRICS.request_size.labels("http").observe(len(body))
            body = inflate(body, request.headers.get("content-encoding", ""), self._limit)
            with MEMORY_LIMITER.reserve(len(body)):
                response = await export(body, media, project, request)
            return Response(_encode(response, media), media_type=media)
        except Exception as exc:
            outcome = "failure"
            return self._error(exc, media)
        finally:
            RECEIVER_METRICS.request_duration.labels("http", outcome).observe(
                time.perf_counter() - started
            )

    def _error(self, exc: Exception, media: str) -> Response:
        status = status_for(exc)
        RECEIVER_METRICS.refused_request("http", status.http_status)
        if status.http_status >= 500:
            log.warning("export failed (%d): %s", status.http_status, status.message)
        headers = dict(status.headers)
        if status.retry_after_header is not None:
            headers["Retry-After"] = status.retry_after_header
        body = status_pb2.Status(code=status.grpc_code, message=status.message)
        return Response(
            _encode(body, media), status_code=status.http_status, media_type=media, headers=headers
        )


def _decode(body: bytes, media: str) -> DecodedRequest:
    try:
        if media == JSON:
            return decode_json_request(body)
        return decode_protobuf_request(body)
    except OTLPDecodeError as exc:
        prefix = "invalid OTLP/JSON body: " if media == JSON else ""
        raise BadRequest(f"{prefix}{exc}") from None


def _encode(message: Message, media: str) -> bytes:
    if media == JSON:
        return orjson.dumps(json_format.MessageToDict(message))
    return message.SerializeToString()
