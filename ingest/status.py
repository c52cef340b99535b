"""Receiver errors and their OTLP status codes (otlp-and-peers.md §1.4–1.6).

One table, used by both transports, modelled on the collector's
``receiver/otlpreceiver/internal/errors/errors.go``:

| error                         | HTTP | gRPC               | client retries |
|-------------------------------|------|--------------------|----------------|
| ``BadRequest`` (undecodable)  | 400  | INVALID_ARGUMENT   | no             |
| ``Unauthenticated``           | 401  | UNAUTHENTICATED    | no             |
| ``PayloadTooLarge``           | 413  | RESOURCE_EXHAUSTED | no             |
| ``UnsupportedMediaType``      | 415  | (n/a)              | no             |
| ``RetryableError`` (overload, | 503 + Retry-After | UNAVAILABLE + RetryInfo | yes |
|   storage down) and unknown   |      |                    |                |
| ``PermanentError`` downstream | 500  | INTERNAL           | no             |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import grpc

from storage.auth import Unauthenticated
from storage.errors import PermanentError, RetryableError

__all__ = [
    "BadRequest",
    "PayloadTooLarge",
    "Status",
    "UnsupportedMediaType",
    "status_for",
]


class BadRequest(ValueError):
    """The request cannot be decoded (bad protobuf, bad JSON, bad gzip)."""


class PayloadTooLarge(ValueError):
    """The body exceeds the configured limit, before or after decompression."""


class UnsupportedMediaType(ValueError):
    """Content-Type or Content-Encoding the receiver does not speak."""


@dataclass(frozen=True, slots=True)
class Status:
    """How to answer one failed export: HTTP status, gRPC code, message, retry hint (s)."""

    http_status: int
    grpc_code: grpc.StatusCode
    message: str
    retry_after_s: float | None = None

    @property
    def retry_after_header(self) -> str | None:
        """``Retry-After`` value in whole seconds, or None when the client must not retry."""
        if self.retry_after_s is None:
            return None
        return str(max(1, math.ceil(self.retry_after_s)))


def status_for(exc: BaseException) -> Status:
    """Translate any exception raised while handling an export into its ``Status``."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, BadRequest):
        return Status(400, grpc.StatusCode.INVALID_ARGUMENT, message)
    if isinstance(exc, Unauthenticated):
        return Status(401, grpc.StatusCode.UNAUTHENTICATED, message)
    if isinstance(exc, PayloadTooLarge):
        return Status(413, grpc.StatusCode.RESOURCE_EXHAUSTED, message)
    if isinstance(exc, UnsupportedMediaType):
        return Status(415, grpc.StatusCode.INVALID_ARGUMENT, message)
    if isinstance(exc, PermanentError):
        return Status(500, grpc.StatusCode.INTERNAL, message)
    retry_after = exc.retry_after_s if isinstance(exc, RetryableError) else 1.0
    return Status(503, grpc.StatusCode.UNAVAILABLE, message, retry_after)
