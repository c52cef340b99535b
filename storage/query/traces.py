"""Traces: the read model of ``GET /api/public/traces`` and ``/traces/{traceId}``
(docs/reference/langfuse.md §5; langfuse/langfuse ``fern/apis/server/definition/trace.yml``).

- ``parse_trace_filter``: query string -> ``TraceFilter`` (raises ``BadRequest``);
- ``list_traces`` / ``get_trace`` / ``trace_where``: project-scoped, parameterised SQL over
  ``traces FINAL`` (and the trace's observations and scores), blocking: run them in a worker
  thread;
- ``trace_json`` / ``trace_list_item_json`` / ``trace_detail_json``: rows -> Langfuse JSON
  (``schemas.Trace`` and subclasses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.clickhouse.scores import SCORE_COLUMNS
from storage.query.filter_columns import TRACE_FILTERS
from storage.query.filters import Condition, compile_conditions, parse_filter_param
from storage.query.observations import OBSERVATION_COLUMNS, observation_model
from storage.query.params import PageRequest, list_param, str_param, time_param
from storage.query.repository import Page, Repository, Row
from storage.query.schemas import Trace, TraceListItem, TraceWithFullDetails, as_json
from storage.query.scores.shapes import score_v1_model
from storage.query.shapes import decode_json_text, metadata_json, seconds_between
from storage.query.sql import Where
from storage.query.values import BadRequest, QueryParams, iso_time

__all__ = [
    "TRACE_COLUMNS",
    "TRACE_ORDER_FIELDS",
    "TraceDetail",
    "TraceFilter",
    "get_trace",
    "list_traces",
    "parse_trace_filter",
    "trace_detail_json",
    "trace_json",
    "trace_list_item_json",
    "trace_model",
    "trace_where",
]

TRACE_COLUMNS = """
    id, project_id,
    toUnixTimestamp64Micro(timestamp) AS timestamp_us,
    toUnixTimestamp64Micro(end_time) AS end_time_us,
    name, user_id, session_id, release, version, environment, public, bookmarked, tags, metadata,
    input, output,
    toUnixTimestamp64Micro(created_at) AS created_at_us,
    toUnixTimestamp64Micro(updated_at) AS updated_at_us
"""
"""``SELECT`` list of a trace row (shaped by ``trace_json``)."""

_TRACE_ORDER_COLUMNS = {
    "id": "id",
    "timestamp": "timestamp",
    "name": "name",
    "userId": "user_id",
    "release": "release",
    "version": "version",
    "public": "public",
    "bookmarked": "bookmarked",
    "sessionId": "session_id",
}


TRACE_ORDER_FIELDS: frozenset[str] = frozenset(
    {"id", "timestamp", "name", "userId", "release", "version", "public", "bookmarked", "sessionId"}
)
"""``orderBy`` fields of ``GET /traces`` (``field.asc`` / ``field.desc``)."""


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
class TraceDetail:
    """A trace row, its observation rows (by start time), Σ of their ``total_cost`` (USD) and
    its score rows (by timestamp)."""

    trace: Row
    observations: list[Row]
    total_cost: str
    scores: list[Row]


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


def list_traces(repo: Repository, project_id: str, flt: TraceFilter, page: PageRequest) -> Page:
    """Traces matching ``flt``, ordered and paginated.

    Each row holds ``TRACE_COLUMNS`` plus ``observation_ids`` (by start time),
    ``score_ids`` and ``total_cost`` (decimal string, Σ of the observations' total cost).
    """
    where = trace_where(repo, project_id, flt)
    column = _TRACE_ORDER_COLUMNS[flt.order_field]
    direction = "DESC" if flt.descending else "ASC"
    rows = repo.client.select(
        f"SELECT {TRACE_COLUMNS} FROM {repo.database}.traces FINAL WHERE {where.sql()}"
        f" ORDER BY {column} {direction}, id {direction}"
        " LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        {**where.params, "limit": page.limit, "offset": page.offset},
    )
    total = repo.count("traces", where)
    if rows:
        _attach_trace_aggregates(repo, project_id, rows)
    return Page(rows, total)


def get_trace(repo: Repository, project_id: str, trace_id: str) -> TraceDetail | None:
    """The trace ``trace_id`` of ``project_id`` with its observations, or ``None``."""
    rows = repo.client.select(
        f"SELECT {TRACE_COLUMNS} FROM {repo.database}.traces FINAL"
        " WHERE project_id = {project_id:String} AND id = {id:String} AND is_deleted = 0"
        " LIMIT 1",
        {"project_id": project_id, "id": trace_id},
    )
    if not rows:
        return None
    trace = rows[0]
    where = Where(project_id)
    where.add("trace_id = {trace_id:String}", trace_id=trace_id)
    _add_trace_time_bounds(where, [trace])
    observations = repo.client.select(
        f"SELECT {OBSERVATION_COLUMNS} FROM {repo.database}.observations FINAL"
        f" WHERE {where.sql()} ORDER BY start_time, id",
        where.params,
    )
    total = repo.client.select(
        "SELECT toString(sum(ifNull(total_cost, 0))) AS total_cost"
        f" FROM {repo.database}.observations FINAL WHERE {where.sql()}",
        where.params,
    )
    scores = repo.client.select(
        f"SELECT {SCORE_COLUMNS} FROM {repo.database}.scores FINAL"
        " WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}"
        " AND is_deleted = 0 ORDER BY timestamp, id",
        {"project_id": project_id, "trace_id": trace_id},
    )
    cost = total[0]["total_cost"] if total else "0"
    return TraceDetail(trace, observations, cost, scores)


def trace_where(repo: Repository, project_id: str, flt: TraceFilter) -> Where:
    """The ``WHERE`` of ``list_traces`` (unqualified ``traces`` columns), also for daily
    metrics."""
    where = Where(project_id)
    if flt.user_id is not None:
        where.add("user_id = {user_id:String}", user_id=flt.user_id)
    if flt.name is not None:
        where.add("name = {name:String}", name=flt.name)
    if flt.session_id is not None:
        where.add("session_id = {session_id:String}", session_id=flt.session_id)
    where.time_range("timestamp", flt.from_us, flt.to_us)
    if flt.tags:
        where.add("hasAll(tags, {tags:Array(String)})", tags=list(flt.tags))
    where.environments(flt.environments)
    if flt.version is not None:
        where.add("version = {version:String}", version=flt.version)
    if flt.release is not None:
        where.add("release = {release:String}", release=flt.release)
    if flt.conditions:
        where.extend(*compile_conditions(flt.conditions, TRACE_FILTERS, repo.database))
    return where


def _add_trace_time_bounds(where: Where, traces: list[Row]) -> None:
    # A trace spans [earliest start, latest end or start] of its observations, so these
    # bounds are exact and let ClickHouse prune partitions and primary-key ranges.
    lo = min(int(t["timestamp_us"]) for t in traces)
    hi = max(int(t["end_time_us"] or t["timestamp_us"]) for t in traces)
    where.add(
        "start_time BETWEEN fromUnixTimestamp64Micro({lo_us:Int64})"
        " AND fromUnixTimestamp64Micro({hi_us:Int64})",
        lo_us=lo,
        hi_us=hi,
    )


def _attach_trace_aggregates(repo: Repository, project_id: str, traces: list[Row]) -> None:
    ids = [t["id"] for t in traces]
    where = Where(project_id)
    where.add("trace_id IN {trace_ids:Array(String)}", trace_ids=ids)
    _add_trace_time_bounds(where, traces)
    observations = {
        r["trace_id"]: r
        for r in repo.client.select(
            "SELECT trace_id,"
            " arrayMap(x -> x.2, arraySort(groupArray((start_time, id)))) AS ids,"
            " toString(sum(ifNull(total_cost, 0))) AS total_cost"
            f" FROM {repo.database}.observations FINAL WHERE {where.sql()} GROUP BY trace_id",
            where.params,
        )
    }
    scores = {
        r["trace_id"]: r["ids"]
        for r in repo.client.select(
            "SELECT trace_id, arraySort(groupArray(id)) AS ids"
            f" FROM {repo.database}.scores FINAL"
            " WHERE project_id = {project_id:String} AND is_deleted = 0"
            " AND trace_id IN {trace_ids:Array(String)} GROUP BY trace_id",
            {"project_id": project_id, "trace_ids": ids},
        )
    }
    for trace in traces:
        agg = observations.get(trace["id"])
        trace["observation_ids"] = agg["ids"] if agg else []
        trace["total_cost"] = agg["total_cost"] if agg else "0"
        trace["score_ids"] = scores.get(trace["id"], [])


def _trace_fields(row: Row) -> dict[str, Any]:
    """The ``Trace`` fields of a trace row (keyword arguments of ``Trace`` and subclasses)."""
    project_id = row["project_id"]
    return {
        "id": row["id"],
        "project_id": project_id,
        "timestamp": iso_time(row["timestamp_us"]),
        "name": row["name"] or None,
        "input": decode_json_text(row["input"]),
        "output": decode_json_text(row["output"]),
        "session_id": row["session_id"],
        "release": row["release"],
        "version": row["version"],
        "user_id": row["user_id"],
        "metadata": metadata_json(row["metadata"]),
        "tags": list(row["tags"]),
        "public": bool(row["public"]),
        "bookmarked": bool(row["bookmarked"]),
        "environment": row["environment"],
        "external_id": None,
        "created_at": iso_time(row["created_at_us"]),
        "updated_at": iso_time(row["updated_at_us"]),
        "html_path": f"/project/{project_id}/traces/{row['id']}",
        "latency": seconds_between(row["timestamp_us"], row["end_time_us"]),
    }


def trace_model(row: Row) -> Trace:
    """A trace row as a ``schemas.Trace``."""
    return Trace(**_trace_fields(row))


def trace_json(row: Row) -> dict[str, Any]:
    """A Langfuse ``Trace`` object plus ``htmlPath``, ``latency`` (s) and ``externalId``
    (``schemas.Trace``)."""
    return as_json(trace_model(row))


def trace_list_item_json(row: Row) -> dict[str, Any]:
    """An item of ``GET /traces``: Trace + ``totalCost`` + ``observations``/``scores`` ids
    (``schemas.TraceListItem``)."""
    item = TraceListItem(
        **_trace_fields(row),
        total_cost=float(row["total_cost"]),
        observations=list(row["observation_ids"]),
        scores=list(row["score_ids"]),
    )
    return as_json(item)


def trace_detail_json(detail: TraceDetail) -> dict[str, Any]:
    """``GET /traces/{id}``: Trace + ``totalCost`` + ``observations: ObservationsView[]`` +
    ``scores: ScoreV1[]`` (``schemas.TraceWithFullDetails``)."""
    body = TraceWithFullDetails(
        **_trace_fields(detail.trace),
        total_cost=float(detail.total_cost),
        observations=[observation_model(o) for o in detail.observations],
        scores=[score_v1_model(s) for s in detail.scores],
    )
    return as_json(body)
