"""HTTP plumbing of the JSON ingestion endpoints: body, auth, JSON answers, error statuses.

Errors are Langfuse-style ``{"message": ...}`` bodies (langfuse-anchor.md §5): 400 bad JSON,
401 bad credentials, 413 body over the limit, 415 unsupported encoding, 503 + ``Retry-After``
when storage is unavailable (retryable), 500 when storage rejected the data for good.
"""

from __future__ import annotations

import logging
import math
import zlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from storage.auth import KeyStore, Project, Unauthenticated, authenticate_async
from storage.errors import PermanentError, RetryableError

__all__ = [
    "HTTPError",
    "JSONResponse",
    "authenticate_request",
    "error_response",
    "read_json",
    "storage_error",
]

log = logging.getLogger(__name__)


class JSONResponse(Response):
    """A JSON response encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content``."""
        return orjson.dumps(content)


class HTTPError(Exception):
    """Answer the request with ``status`` and ``{"message": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> Response:
        """The error response."""
        return error_response(self.status, self.message, self.headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """``{"message": message}`` with ``status``."""
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def storage_error(exc: Exception) -> HTTPError:
    """The answer to a failed write: 500 for ``PermanentError``, else 503 + ``Retry-After``."""
    if isinstance(exc, PermanentError):
        log.error("storage rejected the data: %s", exc)
        return HTTPError(500, f"storage rejected the data: {exc}")
    retry_after = getattr(exc, "retry_after_s", 1.0)
    log.warning("write failed, storage unavailable: %s", exc)
    seconds = str(max(1, math.ceil(retry_after)))
    return HTTPError(503, "storage unavailable, retry later", {"Retry-After": seconds})


async def authenticate_request(keys: KeyStore, request: Request) -> Project:
    """The project of the request's ``Authorization: Basic`` credentials.

    Raises:
        HTTPError: 401 bad credentials; 503 + Retry-After when the key store (PostgreSQL)
            is unavailable.
    """
    try:
        return await authenticate_async(keys, request.headers.get("authorization"))
    except Unauthenticated as exc:
        raise HTTPError(401, str(exc), {"WWW-Authenticate": 'Basic realm="otelfuse"'}) from None
    except RetryableError as exc:
        seconds = str(max(1, math.ceil(exc.retry_after_s)))
        raise HTTPError(
            503, "authentication unavailable, retry later", {"Retry-After": seconds}
        ) from None


async def read_json(request: Request, limit: int) -> Any:
    """The request body (optionally ``Content-Encoding: gzip``) decoded as JSON.

    Raises:
        HTTPError: 413 body (or inflated body) over ``limit`` bytes, 415 other encoding,
            400 not JSON.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    body = _decompress(b"".join(chunks), request.headers.get("content-encoding", ""), limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPError(400, f"body is not valid JSON: {exc}") from None


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise HTTPError(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HTTPError(400, f"cannot decompress gzip body: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise HTTPError(413, f"decompressed body exceeds the {limit}-byte limit")
    if not inflater.eof:
        raise HTTPError(400, "truncated gzip body")
    return data
