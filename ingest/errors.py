"""The edge's errors and the ONE table that turns any of them into an answer.

Every transport (OTLP/gRPC, OTLP/HTTP, the Langfuse API routes) raises or lets through these
exceptions and answers with ``status_for(exc)``; only the body differs (a ``google.rpc.Status``
for OTLP, ``{"message": ...}`` for the Langfuse API). The table follows the collector's
``receiver/otlpreceiver/internal/errors/errors.go`` and the OTLP spec's "Failures" sections
(opentelemetry-proto ``docs/specification.md``):

| error                                   | HTTP | gRPC               | client retries |
|-----------------------------------------|------|--------------------|----------------|
| ``HTTPError`` (an explicit answer)      | its own status              | as its status |
| ``BadRequest`` (undecodable, invalid)   | 400  | INVALID_ARGUMENT   | no             |
| ``Unauthenticated``                     | 401  | UNAUTHENTICATED    | no             |
| ``NotFound``                            | 404  | NOT_FOUND          | no             |
| ``Conflict``                            | 409  | ALREADY_EXISTS     | no             |
| ``PayloadTooLarge``                     | 413  | RESOURCE_EXHAUSTED | no             |
| ``UnsupportedMediaType``                | 415  | INVALID_ARGUMENT   | no             |
| ``PermanentError`` downstream           | 500  | INTERNAL           | no             |
| ``RetryableError`` (overload, storage   | 503 + Retry-After | UNAVAILABLE + RetryInfo | yes |
|   down) and any unknown exception       |      |                    |                |
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from google.rpc import code_pb2

from storage.auth import Unauthenticated
from storage.errors import BadRequest, Conflict, NotFound, PermanentError, RetryableError

__all__ = [
    "BadRequest",
    "Conflict",
    "HTTPError",
    "NotFound",
    "PayloadTooLarge",
    "Status",
    "UnsupportedMediaType",
    "retry_after_header",
    "status_for",
    "write_failure",
]

log = logging.getLogger(__name__)


class PayloadTooLarge(ValueError):
    """The body exceeds the configured limit, before or after decompression."""


class UnsupportedMediaType(ValueError):
    """Content-Type or Content-Encoding the receiver does not speak."""


class HTTPError(Exception):
    """Answer with exactly ``status``, ``message`` and ``headers`` (an explicit decision of the
    handler, such as a storage failure phrased for the client)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Status:
    """How to answer one failed request: HTTP status, gRPC code, message, retry hint (s).

    ``grpc_code`` is the number of the canonical code (``google.rpc.Code``, googleapis
    ``google/rpc/code.proto``; ``code_pb2.Code.Name`` gives its name), as a ``google.rpc.Status``
    carries it: this module does not import grpcio, which the all-in-one owner with worker
    processes never serves."""

    http_status: int
    grpc_code: int
    message: str
    retry_after_s: float | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def retry_after_header(self) -> str | None:
        """``Retry-After`` value in whole seconds, or None when the client must not retry."""
        if self.retry_after_s is None:
            return None
        return retry_after_header(self.retry_after_s)

    @property
    def server_side(self) -> bool:
        """True for 5xx: the message may hold internals and is logged, not shown, by the API."""
        return self.http_status >= 500


def retry_after_header(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1 (RFC 9110 §10.2.3)."""
    return str(max(1, math.ceil(seconds)))


_GRPC_OF_HTTP: dict[int, int] = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    409: code_pb2.ALREADY_EXISTS,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    500: code_pb2.INTERNAL,
    503: code_pb2.UNAVAILABLE,
}

_TABLE: tuple[tuple[type[BaseException], int], ...] = (
    (BadRequest, 400),
    (Unauthenticated, 401),
    (NotFound, 404),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (PermanentError, 500),
)
"""Exception class -> HTTP status, most specific first (``Conflict`` and ``NotFound`` are
``PermanentError`` subclasses); anything else is 503."""

_HEADERS = {401: {"WWW-Authenticate": 'Basic realm="otelfuse"'}}
"""Headers an HTTP status requires (RFC 9110 §15.5.2: a 401 names its scheme)."""


def status_for(exc: BaseException) -> Status:
    """Translate any exception raised while handling a request into its ``Status``."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, HTTPError):
        retry = exc.headers.get("Retry-After")
        grpc_code = _GRPC_OF_HTTP.get(exc.status, code_pb2.UNKNOWN)
        retry_after = float(retry) if retry and retry.isdigit() else None
        return Status(exc.status, grpc_code, exc.message, retry_after, exc.headers)
    for kind, http_status in _TABLE:
        if isinstance(exc, kind):
            headers = _HEADERS.get(http_status, {})
            return Status(http_status, _GRPC_OF_HTTP[http_status], message, headers=headers)
    retry_after = exc.retry_after_s if isinstance(exc, RetryableError) else 1.0
    return Status(503, code_pb2.UNAVAILABLE, message, retry_after)


def write_failure(exc: BaseException) -> HTTPError:
    """The answer to a write that failed in storage or the queue: 500 ``storage rejected the
    data: <reason>`` for a ``PermanentError``, else 503 + ``Retry-After`` (the client resends)."""
    if isinstance(exc, PermanentError):
        log.error("storage rejected the data: %s", exc)
        return HTTPError(500, f"storage rejected the data: {exc}")
    retry_after = exc.retry_after_s if isinstance(exc, RetryableError) else 1.0
    log.warning("write failed, storage unavailable: %s", exc)
    headers = {"Retry-After": retry_after_header(retry_after)}
    return HTTPError(503, "storage unavailable, retry later", headers)
