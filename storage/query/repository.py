"""Read queries behind the public API (docs/reference/langfuse.md §5), scoped to one project.

All SQL is parameterised (``{name:Type}``); only whitelisted column names and directions are
put into the text. Reads deduplicate with ``FINAL`` and drop ``is_deleted`` rows (§2.7).
Methods block (they call the client), so async callers run them in a worker thread.

Rows come back as dicts with JSON-typed values: times as ``*_us`` Unix µs ints, money as decimal
strings; ``storage.query.shapes`` turns them into Langfuse JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.clickhouse.client import Client
from storage.clickhouse.scores import SCORE_COLUMNS
from storage.query.filter_columns import OBSERVATION_FILTERS, TRACE_FILTERS
from storage.query.filters import compile_conditions
from storage.query.params import ObservationFilter, PageRequest, TraceFilter
from storage.query.sql import Where

__all__ = [
    "OBSERVATION_COLUMNS",
    "TRACE_COLUMNS",
    "Page",
    "Repository",
    "Row",
    "TraceDetail",
]

Row = dict[str, Any]

TRACE_COLUMNS = """
    id, project_id,
    toUnixTimestamp64Micro(timestamp) AS timestamp_us,
    toUnixTimestamp64Micro(end_time) AS end_time_us,
    name, user_id, session_id, release, version, environment, public, bookmarked, tags, metadata,
    input, output,
    toUnixTimestamp64Micro(created_at) AS created_at_us,
    toUnixTimestamp64Micro(updated_at) AS updated_at_us
"""
"""``SELECT`` list of a trace row (shaped by ``shapes.trace_json``)."""

OBSERVATION_COLUMNS = """
    id, trace_id, project_id, type, parent_observation_id, name, environment, level,
    status_message, version, release,
    toUnixTimestamp64Micro(start_time) AS start_time_us,
    toUnixTimestamp64Micro(end_time) AS end_time_us,
    toUnixTimestamp64Micro(completion_start_time) AS completion_start_time_us,
    metadata, input, output, provided_model_name, internal_model_id, model_parameters,
    usage_details,
    mapApply((k, v) -> (k, toString(v)), cost_details) AS cost_details,
    toString(total_cost) AS total_cost,
    prompt_id, prompt_name, prompt_version, usage_pricing_tier_id, usage_pricing_tier_name,
    usage_estimated,
    toUnixTimestamp64Micro(created_at) AS created_at_us,
    toUnixTimestamp64Micro(updated_at) AS updated_at_us
"""
"""``SELECT`` list of an observation row (shaped by ``shapes.observation_json``)."""

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


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows and the number of rows matching the filter."""

    rows: list[Row]
    total: int


@dataclass(frozen=True, slots=True)
class TraceDetail:
    """A trace row, its observation rows (by start time), Σ of their ``total_cost`` (USD) and
    its score rows (by timestamp)."""

    trace: Row
    observations: list[Row]
    total_cost: str
    scores: list[Row]


class Repository:
    """Project-scoped reads of traces and observations.

    Args:
        client: the shared ClickHouse client.
        database: database created by ``storage.clickhouse.migrate.apply_migrations``.

    Every method raises ``RetryableError`` / ``PermanentError`` from the client.
    """

    def __init__(self, client: Client, database: str = "otelfuse") -> None:
        self._client = client
        self._db = database

    @property
    def client(self) -> Client:
        """The client the queries run on (for the endpoint modules of ``storage.query``)."""
        return self._client

    @property
    def database(self) -> str:
        """The database holding ``traces``, ``observations`` and ``scores``."""
        return self._db

    def ping(self) -> None:
        """Run ``SELECT 1``; raises when ClickHouse is not usable."""
        self._client.select("SELECT 1 AS ok")

    # ---- traces ----------------------------------------------------------------------------

    def list_traces(self, project_id: str, flt: TraceFilter, page: PageRequest) -> Page:
        """Traces matching ``flt``, ordered and paginated.

        Each row holds ``TRACE_COLUMNS`` plus ``observation_ids`` (by start time),
        ``score_ids`` and ``total_cost`` (decimal string, Σ of the observations' total cost).
        """
        where = self._trace_where(project_id, flt)
        column = _TRACE_ORDER_COLUMNS[flt.order_field]
        direction = "DESC" if flt.descending else "ASC"
        rows = self._client.select(
            f"SELECT {TRACE_COLUMNS} FROM {self._db}.traces FINAL WHERE {where.sql()}"
            f" ORDER BY {column} {direction}, id {direction}"
            " LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
            {**where.params, "limit": page.limit, "offset": page.offset},
        )
        total = self._count("traces", where)
        if rows:
            self._attach_trace_aggregates(project_id, rows)
        return Page(rows, total)

    def get_trace(self, project_id: str, trace_id: str) -> TraceDetail | None:
        """The trace ``trace_id`` of ``project_id`` with its observations, or ``None``."""
        rows = self._client.select(
            f"SELECT {TRACE_COLUMNS} FROM {self._db}.traces FINAL"
            " WHERE project_id = {project_id:String} AND id = {id:String} AND is_deleted = 0"
            " LIMIT 1",
            {"project_id": project_id, "id": trace_id},
        )
        if not rows:
            return None
        trace = rows[0]
        where = Where(project_id)
        where.add("trace_id = {trace_id:String}", trace_id=trace_id)
        self._add_trace_time_bounds(where, [trace])
        observations = self._client.select(
            f"SELECT {OBSERVATION_COLUMNS} FROM {self._db}.observations FINAL"
            f" WHERE {where.sql()} ORDER BY start_time, id",
            where.params,
        )
        total = self._client.select(
            "SELECT toString(sum(ifNull(total_cost, 0))) AS total_cost"
            f" FROM {self._db}.observations FINAL WHERE {where.sql()}",
            where.params,
        )
        scores = self._client.select(
            f"SELECT {SCORE_COLUMNS} FROM {self._db}.scores FINAL"
            " WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}"
            " AND is_deleted = 0 ORDER BY timestamp, id",
            {"project_id": project_id, "trace_id": trace_id},
        )
        cost = total[0]["total_cost"] if total else "0"
        return TraceDetail(trace, observations, cost, scores)

    def _trace_where(self, project_id: str, flt: TraceFilter) -> Where:
        where = Where(project_id)
        if flt.user_id is not None:
            where.add("user_id = {user_id:String}", user_id=flt.user_id)
        if flt.name is not None:
            where.add("name = {name:String}", name=flt.name)
        if flt.session_id is not None:
            where.add("session_id = {session_id:String}", session_id=flt.session_id)
        if flt.from_us is not None:
            where.add("timestamp >= fromUnixTimestamp64Micro({from_us:Int64})", from_us=flt.from_us)
        if flt.to_us is not None:
            where.add("timestamp < fromUnixTimestamp64Micro({to_us:Int64})", to_us=flt.to_us)
        if flt.tags:
            where.add("hasAll(tags, {tags:Array(String)})", tags=list(flt.tags))
        if flt.environments:
            where.add("environment IN {environments:Array(String)}", environments=flt.environments)
        if flt.version is not None:
            where.add("version = {version:String}", version=flt.version)
        if flt.release is not None:
            where.add("release = {release:String}", release=flt.release)
        if flt.conditions:
            where.extend(*compile_conditions(flt.conditions, TRACE_FILTERS, self._db))
        return where

    def trace_where(self, project_id: str, flt: TraceFilter) -> Where:
        """The ``WHERE`` of ``list_traces`` (unqualified ``traces`` columns) for reuse."""
        return self._trace_where(project_id, flt)

    def _add_trace_time_bounds(self, where: Where, traces: list[Row]) -> None:
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

    def _attach_trace_aggregates(self, project_id: str, traces: list[Row]) -> None:
        ids = [t["id"] for t in traces]
        where = Where(project_id)
        where.add("trace_id IN {trace_ids:Array(String)}", trace_ids=ids)
        self._add_trace_time_bounds(where, traces)
        observations = {
            r["trace_id"]: r
            for r in self._client.select(
                "SELECT trace_id,"
                " arrayMap(x -> x.2, arraySort(groupArray((start_time, id)))) AS ids,"
                " toString(sum(ifNull(total_cost, 0))) AS total_cost"
                f" FROM {self._db}.observations FINAL WHERE {where.sql()} GROUP BY trace_id",
                where.params,
            )
        }
        scores = {
            r["trace_id"]: r["ids"]
            for r in self._client.select(
                "SELECT trace_id, arraySort(groupArray(id)) AS ids"
                f" FROM {self._db}.scores FINAL"
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

    # ---- observations ----------------------------------------------------------------------

    def list_observations(self, project_id: str, flt: ObservationFilter, page: PageRequest) -> Page:
        """Observations matching ``flt``, newest start first, paginated (``OBSERVATION_COLUMNS``).

        ``userId`` matches the observation's trace user (the merged trace row), like Langfuse.
        """
        where = Where(project_id)
        where.equal(
            name=flt.name,
            type=flt.type,
            trace_id=flt.trace_id,
            parent_observation_id=flt.parent_observation_id,
            level=flt.level,
            version=flt.version,
        )
        if flt.environments:
            where.add("environment IN {environments:Array(String)}", environments=flt.environments)
        if flt.from_start_us is not None:
            where.add(
                "start_time >= fromUnixTimestamp64Micro({from_us:Int64})", from_us=flt.from_start_us
            )
        if flt.to_start_us is not None:
            where.add("start_time < fromUnixTimestamp64Micro({to_us:Int64})", to_us=flt.to_start_us)
        if flt.user_id is not None:
            where.add(
                f"trace_id IN (SELECT id FROM {self._db}.traces FINAL"
                " WHERE project_id = {project_id:String} AND user_id = {user_id:String}"
                " AND is_deleted = 0)",
                user_id=flt.user_id,
            )
        if flt.conditions:
            where.extend(*compile_conditions(flt.conditions, OBSERVATION_FILTERS, self._db))
        rows = self._client.select(
            f"SELECT {OBSERVATION_COLUMNS} FROM {self._db}.observations FINAL"
            f" WHERE {where.sql()} ORDER BY start_time DESC, id DESC"
            " LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
            {**where.params, "limit": page.limit, "offset": page.offset},
        )
        return Page(rows, self._count("observations", where))

    def get_observation(self, project_id: str, observation_id: str) -> Row | None:
        """The observation ``observation_id`` of ``project_id`` (``OBSERVATION_COLUMNS``)."""
        rows = self._client.select(
            f"SELECT {OBSERVATION_COLUMNS} FROM {self._db}.observations FINAL"
            " WHERE project_id = {project_id:String} AND id = {id:String} AND is_deleted = 0"
            " ORDER BY start_time DESC LIMIT 1",
            {"project_id": project_id, "id": observation_id},
        )
        return rows[0] if rows else None

    def _count(self, table: str, where: Where) -> int:
        rows = self._client.select(
            f"SELECT count() AS n FROM {self._db}.{table} FINAL WHERE {where.sql()}", where.params
        )
        return int(rows[0]["n"]) if rows else 0
