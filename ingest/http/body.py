"""The one request-body reader: size-limited on the wire and after decompression.

Every route that reads a body goes through ``read_body`` (bytes), ``read_json`` (a JSON
value) or ``stream_body`` (chunks, for media uploads written to disk as they arrive), so one
limit applies everywhere (the OTLP spec's RECOMMENDED 64 MiB default is
``OTELFUSE_MAX_REQUEST_BYTES``; a media upload's limit is its signed length).
``Content-Encoding`` may be ``gzip``, ``deflate`` (zlib) or absent, as the OTLP/HTTP exporters
send (OTLP spec, "OTLP/HTTP Request").
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request

from ingest.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

__all__ = ["inflate", "parse_json", "read_body", "read_json", "stream_body"]

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


async def read_body(request: Request, limit_bytes: int, *, decompress: bool = True) -> bytes:
    """The request body, inflated when ``Content-Encoding`` asks, at most ``limit_bytes``.
    With ``decompress=False`` the body is returned as sent (the caller inflates it with
    ``decompress`` after measuring it).

    The declared ``Content-Length`` is checked before reading; the stream is cut as soon as
    it passes the limit, so a hostile body never sits in memory whole.

    Raises:
        PayloadTooLarge: the body (or the inflated body) exceeds ``limit_bytes``.
        UnsupportedMediaType: a ``Content-Encoding`` other than gzip, deflate or identity.
        BadRequest: the compressed body is corrupt or truncated.
    """
    body = b"".join([chunk async for chunk in stream_body(request, limit_bytes)])
    if not decompress:
        return body
    return inflate(body, request.headers.get("content-encoding", ""), limit_bytes)


async def stream_body(request: Request, limit_bytes: int) -> AsyncIterator[bytes]:
    """The request body as it arrives (never decompressed), at most ``limit_bytes``.

    The declared ``Content-Length`` is checked before the first chunk; the stream is cut as
    soon as it passes the limit.

    Raises:
        PayloadTooLarge: the body exceeds ``limit_bytes``.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the {limit_bytes}-byte limit")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLarge(f"body exceeds the {limit_bytes}-byte limit")
        if chunk:
            yield chunk


def inflate(body: bytes, content_encoding: str, limit_bytes: int) -> bytes:
    """``body`` inflated per ``content_encoding`` (``""``/identity: unchanged).

    Raises:
        PayloadTooLarge, UnsupportedMediaType, BadRequest: as ``read_body``.
    """
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limit_bytes + 1)
    except zlib.error as exc:
        raise BadRequest(f"cannot decompress {encoding} body: {exc}") from None
    if len(data) > limit_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds the {limit_bytes}-byte limit")
    if not inflater.eof:
        raise BadRequest(f"truncated {encoding} body")
    return data


async def read_json(request: Request, limit_bytes: int) -> Any:
    """``read_body`` decoded as JSON (orjson: objects, arrays, numbers as int/float).

    Raises:
        BadRequest: the body is not JSON; and whatever ``read_body`` raises.
    """
    return parse_json(await read_body(request, limit_bytes))


def parse_json(body: bytes) -> Any:
    """A body read by ``read_body``, decoded as JSON (orjson).

    Raises:
        BadRequest: the body is not JSON.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
