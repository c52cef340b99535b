"""Request-value primitives shared by every read-API parser (docs/reference/langfuse.md §5).

``BadRequest`` is the one exception parsers raise (the routes answer ``400 {"message": ...}``);
``parse_timestamp`` turns ISO-8601 text into Unix µs within the range a ``DateTime64(6)`` column
holds, so an out-of-range date is a 400 and never reaches ClickHouse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, overload

from storage.errors import BadRequest

__all__ = ["MAX_US", "MIN_US", "BadRequest", "QueryParams", "iso_time", "parse_timestamp"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MIN_US = (datetime(1900, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
"""Earliest accepted time (1900-01-01T00:00:00Z, the lower bound of ``DateTime64``), Unix µs."""

MAX_US = (datetime(2299, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
"""Latest accepted time (2299-12-31T23:59:59Z, the upper bound of ``DateTime64``), Unix µs."""


class QueryParams(Protocol):
    """A request's query string as the parsers read it: the last value of a name, or all of
    them (what ``starlette.datastructures.QueryParams`` offers; a web framework is not needed
    here)."""

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of ``key`` (the last one when repeated), else ``default``."""
        ...

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key``, in order."""
        ...


@overload
def iso_time(us: int) -> str: ...
@overload
def iso_time(us: None) -> None: ...
def iso_time(us: int | None) -> str | None:
    """Unix µs -> ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` (``None`` stays ``None``)."""
    if us is None:
        return None
    moment = _EPOCH + timedelta(microseconds=int(us))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str, name: str) -> int:
    """ISO-8601 (``2025-11-22T00:00:00Z``, offsets allowed, naive = UTC) -> Unix µs.

    Raises:
        BadRequest: ``value`` is not an ISO-8601 date-time, or lies outside 1900..2299.
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an ISO-8601 timestamp, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        us = (parsed - _EPOCH) // timedelta(microseconds=1)
    except OverflowError:  # an offset that pushes year 1/9999 out of datetime's range
        raise BadRequest(f"{name} is out of range, got {value!r}") from None
    if not MIN_US <= us <= MAX_US:
        raise BadRequest(f"{name} must lie between 1900-01-01 and 2299-12-31, got {value!r}")
    return us
