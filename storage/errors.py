"""The two error classes every boundary translates (collector's consumererror model).

- ``RetryableError``: the same input may succeed later (ClickHouse down, timeout, queue full).
  Receivers answer 503 + Retry-After / gRPC UNAVAILABLE; processors back off and do not commit.
- ``PermanentError``: the same input will always fail (undecodable record, schema violation).
  Receivers answer 400 / INVALID_ARGUMENT; processors dead-letter the record and commit.

Unknown exceptions are treated as retryable, as the OpenTelemetry Collector does.
"""

from __future__ import annotations

__all__ = ["PermanentError", "RetryableError"]


class RetryableError(Exception):
    """A failure that may go away on retry. ``retry_after_s`` hints the client's wait (seconds)."""

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentError(Exception):
    """A failure that will repeat for the same input; never retried."""
