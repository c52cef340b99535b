"""Sessions, derived from the traces' ``session_id`` (docs/reference/langfuse.md §5 ``/sessions``).

There is no session table: a session exists while at least one (non-deleted) trace of the
project carries its id. ``createdAt`` is the earliest trace timestamp of the session and
``environment`` the environment of that earliest trace.

- ``GET /api/public/sessions`` -> ``{"data": [{id, createdAt, projectId, environment}],
  "meta": {page, limit, totalItems, totalPages}}``, newest first (``createdAt`` desc, then id);
  ``fromTimestamp`` (>=) / ``toTimestamp`` (<) bound ``createdAt``, ``environment``
  (repeatable) keeps the sessions' traces of those environments;
- ``GET /api/public/sessions/{sessionId}`` -> the session plus ``traces: Trace[]`` (every
  trace, oldest first, unpaginated); ``None`` (404) when the project has no such session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.query.params import PageRequest, list_param, time_param
from storage.query.repository import Page, Repository, Row
from storage.query.schemas import Session, SessionWithTraces, as_json
from storage.query.sql import Where
from storage.query.traces import TRACE_COLUMNS, trace_model
from storage.query.values import QueryParams, iso_time

__all__ = [
    "SessionDetail",
    "SessionFilter",
    "get_session",
    "list_sessions",
    "parse_session_filter",
    "session_detail_json",
    "session_json",
]

# aliases differ from column names: ClickHouse substitutes aliases in WHERE too
_SESSION_COLUMNS = """
    assumeNotNull(session_id) AS session_key,
    toUnixTimestamp64Micro(min(timestamp)) AS created_at_us,
    argMin(environment, timestamp) AS first_environment
"""


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Filters of ``GET /sessions``; times are Unix µs on the session's ``createdAt``."""

    from_us: int | None = None
    to_us: int | None = None
    environments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionDetail:
    """A session row and its trace rows (``TRACE_COLUMNS``), oldest first."""

    session: Row
    traces: list[Row]


def parse_session_filter(params: QueryParams) -> SessionFilter:
    """``fromTimestamp`` (>=), ``toTimestamp`` (<), ``environment`` (repeatable).

    Raises:
        BadRequest: a timestamp is not ISO-8601.
    """
    return SessionFilter(
        from_us=time_param(params, "fromTimestamp"),
        to_us=time_param(params, "toTimestamp"),
        environments=list_param(params, "environment"),
    )


def _session_where(project_id: str, flt: SessionFilter) -> tuple[Where, list[str]]:
    where = Where(project_id)
    where.add("session_id IS NOT NULL AND session_id != ''")
    where.environments(flt.environments)
    having: list[str] = []
    if flt.from_us is not None:
        having.append("min(timestamp) >= fromUnixTimestamp64Micro({from_us:Int64})")
        where.params["from_us"] = flt.from_us
    if flt.to_us is not None:
        having.append("min(timestamp) < fromUnixTimestamp64Micro({to_us:Int64})")
        where.params["to_us"] = flt.to_us
    return where, having


def list_sessions(repo: Repository, project_id: str, flt: SessionFilter, page: PageRequest) -> Page:
    """One page of the project's sessions (rows: id, project_id, created_at_us, environment)."""
    where, having = _session_where(project_id, flt)
    grouped = (
        f"SELECT {_SESSION_COLUMNS} FROM {repo.database}.traces FINAL WHERE {where.sql()}"
        " GROUP BY session_id" + (f" HAVING {' AND '.join(having)}" if having else "")
    )
    rows = [
        {
            "id": r["session_key"],
            "project_id": project_id,
            "created_at_us": r["created_at_us"],
            "environment": r["first_environment"],
        }
        for r in repo.client.select(
            f"{grouped} ORDER BY created_at_us DESC, session_key DESC"
            " LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
            {**where.params, "limit": page.limit, "offset": page.offset},
        )
    ]
    total = repo.client.select(f"SELECT count() AS n FROM ({grouped})", where.params)
    return Page(rows, int(total[0]["n"]) if total else 0)


def get_session(repo: Repository, project_id: str, session_id: str) -> SessionDetail | None:
    """The session ``session_id`` of ``project_id`` with its traces, or ``None``."""
    traces = repo.client.select(
        f"SELECT {TRACE_COLUMNS} FROM {repo.database}.traces FINAL"
        " WHERE project_id = {project_id:String} AND is_deleted = 0"
        " AND session_id = {session_id:String} ORDER BY timestamp, id",
        {"project_id": project_id, "session_id": session_id},
    )
    if not traces:
        return None
    first = traces[0]
    session = {
        "id": session_id,
        "project_id": project_id,
        "created_at_us": first["timestamp_us"],
        "environment": first["environment"],
    }
    return SessionDetail(session, traces)


def _session_fields(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "created_at": iso_time(row["created_at_us"]),
        "project_id": row["project_id"],
        "environment": row["environment"],
    }


def session_json(row: Row) -> dict[str, Any]:
    """A Langfuse ``Session``: ``{id, createdAt (ISO-8601), projectId, environment}``
    (``schemas.Session``)."""
    return as_json(Session(**_session_fields(row)))


def session_detail_json(detail: SessionDetail) -> dict[str, Any]:
    """``GET /sessions/{id}``: ``Session`` + ``traces: Trace[]`` (``schemas.SessionWithTraces``)."""
    traces = [trace_model(t) for t in detail.traces]
    return as_json(SessionWithTraces(**_session_fields(detail.session), traces=traces))
