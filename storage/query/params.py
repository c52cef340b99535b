"""Query-string parsing for the public read API (langfuse-anchor.md §5).

Every parser returns a frozen dataclass of typed values or raises ``BadRequest`` with a message
the client can act on (the route answers ``400 {"message": ...}``). Times become Unix µs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.datastructures import QueryParams

__all__ = [
    "TRACE_ORDER_FIELDS",
    "BadRequest",
    "ObservationFilter",
    "PageRequest",
    "TraceFilter",
    "parse_observation_filter",
    "parse_page",
    "parse_timestamp",
    "parse_trace_filter",
]

TRACE_ORDER_FIELDS: frozenset[str] = frozenset(
    {"id", "timestamp", "name", "userId", "release", "version", "public", "bookmarked", "sessionId"}
)
"""``orderBy`` fields of ``GET /traces`` (``field.asc`` / ``field.desc``)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_LIMIT = 100


class BadRequest(Exception):
    """An invalid query parameter; the message is returned to the client as-is."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Page pagination: ``page`` ≥ 1, ``limit`` in 1..100."""

    page: int = 1
    limit: int = 50

    @property
    def offset(self) -> int:
        """Rows to skip: ``(page - 1) * limit``."""
        return (self.page - 1) * self.limit


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


def parse_timestamp(value: str, name: str) -> int:
    """ISO-8601 (``2025-11-22T00:00:00Z``, offsets allowed, naive = UTC) -> Unix µs.

    Raises:
        BadRequest: ``value`` is not an ISO-8601 date-time.
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an ISO-8601 timestamp, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(microseconds=1)


def _int(params: QueryParams, name: str, default: int, lo: int, hi: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise BadRequest(f"{name} must be {bound}, got {value}")
    return value


def _str(params: QueryParams, name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def _list(params: QueryParams, name: str) -> tuple[str, ...]:
    return tuple(v for v in params.getlist(name) if v)


def _time(params: QueryParams, name: str) -> int | None:
    value = params.get(name)
    return parse_timestamp(value, name) if value else None


def parse_page(params: QueryParams) -> PageRequest:
    """``page`` (integer ≥ 1, default 1) and ``limit`` (1..100, default 50)."""
    return PageRequest(
        page=_int(params, "page", 1, 1, None),
        limit=_int(params, "limit", 50, 1, _MAX_LIMIT),
    )


def parse_trace_filter(params: QueryParams) -> TraceFilter:
    """Filters of ``GET /traces``: userId, name, sessionId, fromTimestamp (>=), toTimestamp (<),
    tags (repeatable, all must match), environment (repeatable), version, release, orderBy."""
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
        user_id=_str(params, "userId"),
        name=_str(params, "name"),
        session_id=_str(params, "sessionId"),
        from_us=_time(params, "fromTimestamp"),
        to_us=_time(params, "toTimestamp"),
        tags=_list(params, "tags"),
        environments=_list(params, "environment"),
        version=_str(params, "version"),
        release=_str(params, "release"),
        order_field=order_field,
        descending=descending,
    )


def parse_observation_filter(params: QueryParams) -> ObservationFilter:
    """Filters of ``GET /observations``: name, userId, type, traceId, parentObservationId,
    level, environment (repeatable), fromStartTime (>=), toStartTime (<), version."""
    return ObservationFilter(
        name=_str(params, "name"),
        user_id=_str(params, "userId"),
        type=_str(params, "type"),
        trace_id=_str(params, "traceId"),
        parent_observation_id=_str(params, "parentObservationId"),
        level=_str(params, "level"),
        environments=_list(params, "environment"),
        from_start_us=_time(params, "fromStartTime"),
        to_start_us=_time(params, "toStartTime"),
        version=_str(params, "version"),
    )
