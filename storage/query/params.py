"""Query-string parsing shared by the read API's resources (docs/reference/langfuse.md §5):
pagination and typed parameter helpers.

Every parser returns a frozen dataclass of typed values or raises ``BadRequest`` with a message
the client can act on (the route answers ``400 {"message": ...}``). Times become Unix µs.
Each resource module (``traces``, ``observations``, ``sessions``, ...) parses its own filters
with the ``int_param``/``str_param``/``list_param``/``time_param`` helpers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from storage.query.values import BadRequest, QueryParams, parse_timestamp

__all__ = [
    "MAX_PAGE",
    "BadRequest",
    "PageRequest",
    "int_param",
    "list_param",
    "parse_limit",
    "parse_page",
    "parse_timestamp",
    "str_param",
    "time_param",
]

_MAX_LIMIT = 100

MAX_PAGE = 2**31 - 1
"""Largest ``page`` accepted (keeps ``(page - 1) * limit`` inside ClickHouse's ``UInt64``)."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Page pagination: ``page`` ≥ 1, ``limit`` in 1..100."""

    page: int = 1
    limit: int = 50

    @property
    def offset(self) -> int:
        """Rows to skip: ``(page - 1) * limit``."""
        return (self.page - 1) * self.limit

    def meta(self, total: int) -> dict[str, int]:
        """Langfuse's page ``meta``: ``{page, limit, totalItems, totalPages}``."""
        return {
            "page": self.page,
            "limit": self.limit,
            "totalItems": total,
            "totalPages": math.ceil(total / self.limit),
        }


def int_param(
    params: QueryParams, name: str, default: int, lo: int, hi: int, *, show_range: bool = True
) -> int:
    """The integer ``name`` in ``lo..hi`` (``default`` when absent or empty).

    Raises:
        BadRequest: not an integer or out of range ("between lo and hi" when ``show_range``,
            else ">= lo" / "<= hi").
    """
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if lo <= value <= hi:
        return value
    bound = f"between {lo} and {hi}"
    if not show_range:
        bound = f">= {lo}" if value < lo else f"<= {hi}"
    raise BadRequest(f"{name} must be {bound}, got {value}")


def str_param(params: QueryParams, name: str) -> str | None:
    """The text of ``name``; absent or empty -> ``None``."""
    value = params.get(name)
    return value if value else None


def list_param(params: QueryParams, name: str) -> tuple[str, ...]:
    """Every non-empty value of the repeatable parameter ``name``."""
    return tuple(v for v in params.getlist(name) if v)


def time_param(params: QueryParams, name: str) -> int | None:
    """The ISO-8601 time ``name`` as Unix µs; absent or empty -> ``None``."""
    value = params.get(name)
    return parse_timestamp(value, name) if value else None


def parse_page(params: QueryParams) -> PageRequest:
    """``page`` (integer ≥ 1, default 1) and ``limit`` (1..100, default 50)."""
    return PageRequest(
        page=int_param(params, "page", 1, 1, MAX_PAGE, show_range=False),
        limit=parse_limit(params),
    )


def parse_limit(params: QueryParams) -> int:
    """``limit`` (1..100, default 50)."""
    return int_param(params, "limit", 50, 1, _MAX_LIMIT)
