"""Forwarding an HTTP request to the all-in-one owner process (``OTELFUSE_WORKERS`` > 1;
docs/architecture.md "Worker processes").

A worker process serves the OTLP export routes itself; every other request that reaches it
(query API, ingestion, scores, media, health, ``/metrics``, OpenAPI) is forwarded, as it came,
to the owner's private Unix socket, and the owner's answer is streamed back. Bodies stream
both ways (httpx over the Unix socket: ``httpx.AsyncHTTPTransport(uds=...)``); the ``Host``
header is kept, so URLs the owner builds from it (media upload and download) name the public
address. Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ingest.errors import retry_after_header
from ingest.http.responses import error_response

__all__ = ["HOP_BY_HOP", "OwnerProxy"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers that belong to one connection, not to the request (RFC 9110 §7.6.1)."""

PROXY_TIMEOUT_S = 300.0
"""Seconds the owner may take to answer (large query pages, media uploads)."""


class OwnerProxy:
    """An ASGI app forwarding each HTTP request to the owner's Unix socket at ``path``; when
    the owner cannot be reached it answers 503 + Retry-After."""

    def __init__(self, path: Path) -> None:
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(path)),
            base_url="http://owner",
            timeout=PROXY_TIMEOUT_S,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = await self._forward(Request(scope, receive))
        await response(scope, receive, send)

    async def _forward(self, request: Request) -> Response:
        headers = [
            (name, value)
            for name, value in request.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        target = request.scope.get("raw_path") or request.url.path.encode()
        if request.scope.get("query_string"):
            target += b"?" + request.scope["query_string"]
        outgoing = self._client.build_request(
            request.method,
            target.decode("latin-1"),
            headers=headers,
            content=_body(request) if has_body else None,
        )
        try:
            answer = await self._client.send(outgoing, stream=True)
        except httpx.TransportError:
            headers_out = {"Retry-After": retry_after_header(1.0)}
            return error_response(503, "service unavailable, retry later", headers_out)
        response = StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            background=BackgroundTask(answer.aclose),
        )
        response.raw_headers = [
            (name.lower(), value)
            for name, value in answer.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        return response

    async def aclose(self) -> None:
        """Close the connections to the owner."""
        await self._client.aclose()


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk
