"""Unix microseconds, the time unit of every insert value (``Client`` docstring), and their forms.

- ``datetime_us``: ``datetime`` -> Unix µs (``int``);
- ``us_text``: Unix µs -> ``"1763770000.000001"``, the text ClickHouse parses into any
  ``DateTime64`` exactly, independently of the server time zone (ClickHouse docs, "DateTime64",
  parsing of Unix timestamps with a fractional part);
- ``us_seconds_text``: Unix µs -> whole Unix seconds as text (``DateTime``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["datetime_us", "us_seconds_text", "us_text"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def datetime_us(value: datetime) -> int:
    """Unix µs of ``value``; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def us_text(value: Any) -> Any:
    """Unix µs (``int``) or a ``datetime`` -> ``"1763770000.000001"`` (seconds text with six
    fractional digits). Other values (``None``) pass unchanged."""
    if type(value) is int:
        # %-formatting of the divmod tuple is ~25% faster than an f-string here (hot path)
        if value >= 0:
            return "%d.%06d" % divmod(value, 1_000_000)  # noqa: UP031
        return "-%d.%06d" % divmod(-value, 1_000_000)  # noqa: UP031
    if isinstance(value, datetime):
        return us_text(datetime_us(value))
    return value


def us_seconds_text(value: Any) -> Any:
    """Unix µs (``int``) or a ``datetime`` -> whole Unix seconds as text (floor division), for
    ``DateTime`` columns. Other values (``None``) pass unchanged."""
    if type(value) is int:
        return str(value // 1_000_000)
    if isinstance(value, datetime):
        return str(datetime_us(value) // 1_000_000)
    return value
