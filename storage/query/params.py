"""Query-string parsing for the public read API (docs/reference/langfuse.md §5).

Every parser returns a frozen dataclass of typed values or raises ``BadRequest`` with a message
the client can act on (the route answers ``400 {"message": ...}``). Times become Unix µs.
The ``int_param``/``str_param``/``list_param``/``time_param`` helpers are shared with the
endpoint modules (sessions, v2 observations, metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from storage.query.filter_columns import OBSERVATION_FILTERS, TRACE_FILTERS
from storage.query.filters import Condition, parse_filter_param
from storage.query.values import BadRequest, QueryParams, parse_timestamp

__all__ = [
    "MAX_PAGE",
    "TRACE_ORDER_FIELDS",
    "BadRequest",
    "ObservationFilter",
    "PageRequest",
    "TraceFilter",
    "int_param",
    "list_param",
    "parse_limit",
    "parse_observation_filter",
    "parse_page",
    "parse_timestamp",
    "parse_trace_filter",
    "str_param",
    "time_param",
]

TRACE_ORDER_FIELDS: frozenset[str] = frozenset(
    {"id", "timestamp", "name", "userId", "release", "version", "public", "bookmarked", "sessionId"}
)
"""``orderBy`` fields of ``GET /traces`` (``field.asc`` / ``field.desc``)."""

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


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """Filters and order of ``GET /api/public/traces``; ``None`` / empty means "any"."""

    user_id: str | None = None
    name: str | None = None
    session_id: str | None = None
    from_us: int | None = None
    to_us: int | None = None
    tags: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    version: str | None = None
    release: str | None = None
    order_field: str = "timestamp"
    descending: bool = True
    conditions: tuple[Condition, ...] = ()
    """The ``filter`` JSON conditions (``storage.query.filter_columns.TRACE_FILTERS``)."""


@dataclass(frozen=True, slots=True)
class ObservationFilter:
    """Filters of ``GET /api/public/observations``; ``None`` / empty means "any"."""

    name: str | None = None
    user_id: str | None = None
    type: str | None = None
    trace_id: str | None = None
    parent_observation_id: str | None = None
    level: str | None = None
    environments: tuple[str, ...] = ()
    from_start_us: int | None = None
    to_start_us: int | None = None
    version: str | None = None
    conditions: tuple[Condition, ...] = ()
    """The ``filter`` JSON conditions (``storage.query.filter_columns.OBSERVATION_FILTERS``)."""


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


def parse_trace_filter(params: QueryParams) -> TraceFilter:
    """Filters of ``GET /traces``: userId, name, sessionId, fromTimestamp (>=), toTimestamp (<),
    tags (repeatable, all must match), environment (repeatable), version, release, orderBy,
    filter (JSON, ``TRACE_FILTERS`` columns)."""
    order_field, descending = "timestamp", True
    order_by = params.get("orderBy")
    if order_by:
        field, _, direction = order_by.rpartition(".")
        if field not in TRACE_ORDER_FIELDS or direction not in ("asc", "desc"):
            raise BadRequest(
                f"orderBy must be <field>.asc or <field>.desc with field one of "
                f"{', '.join(sorted(TRACE_ORDER_FIELDS))}; got {order_by!r}"
            )
        order_field, descending = field, direction == "desc"
    return TraceFilter(
        user_id=str_param(params, "userId"),
        name=str_param(params, "name"),
        session_id=str_param(params, "sessionId"),
        from_us=time_param(params, "fromTimestamp"),
        to_us=time_param(params, "toTimestamp"),
        tags=list_param(params, "tags"),
        environments=list_param(params, "environment"),
        version=str_param(params, "version"),
        release=str_param(params, "release"),
        order_field=order_field,
        descending=descending,
        conditions=parse_filter_param(params.get("filter"), TRACE_FILTERS),
    )


def parse_observation_filter(params: QueryParams) -> ObservationFilter:
    """Filters of ``GET /observations``: name, userId, type, traceId, parentObservationId,
    level, environment (repeatable), fromStartTime (>=), toStartTime (<), version,
    filter (JSON, ``OBSERVATION_FILTERS`` columns)."""
    return ObservationFilter(
        name=str_param(params, "name"),
        user_id=str_param(params, "userId"),
        type=str_param(params, "type"),
        trace_id=str_param(params, "traceId"),
        parent_observation_id=str_param(params, "parentObservationId"),
        level=str_param(params, "level"),
        environments=list_param(params, "environment"),
        from_start_us=time_param(params, "fromStartTime"),
        to_start_us=time_param(params, "toStartTime"),
        version=str_param(params, "version"),
        conditions=parse_filter_param(params.get("filter"), OBSERVATION_FILTERS),
    )
