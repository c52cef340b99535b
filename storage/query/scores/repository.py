"""Project-scoped score reads (docs/reference/langfuse.md §2.3, §2.7, §5).

All SQL is parameterised (``{name:Type}``); only fixed column names and whitelisted operators
are put into the text. Reads use ``FINAL`` and ``is_deleted = 0``. Rows hold
``storage.clickhouse.scores.SCORE_COLUMNS`` (times as ``*_us`` Unix µs).
"""

from __future__ import annotations

from typing import Any

from storage.clickhouse.client import Client
from storage.clickhouse.scores import SCORE_COLUMNS
from storage.query.params import PageRequest
from storage.query.scores.params import ScoreFilter, V3Query
from storage.query.sql import Where

__all__ = ["Row", "ScoreRepository"]

Row = dict[str, Any]


class ScoreRepository:
    """Project-scoped score reads (blocking: call from a worker thread).

    Every method raises ``RetryableError`` / ``PermanentError`` from the client.
    """

    def __init__(self, client: Client, database: str = "otelfuse") -> None:
        self._client = client
        self._db = database

    def _traces_where(self, where: Where, condition: str, **params: Any) -> None:
        where.add(
            f"trace_id IN (SELECT id FROM {self._db}.traces FINAL"
            f" WHERE project_id = {{project_id:String}} AND is_deleted = 0 AND {condition})",
            **params,
        )

    def _v2_where(self, project_id: str, flt: ScoreFilter) -> Where:
        where = Where(project_id)
        where.equal(
            name=flt.name,
            source=flt.source,
            config_id=flt.config_id,
            queue_id=flt.queue_id,
            dataset_run_id=flt.dataset_run_id,
            session_id=flt.session_id,
            trace_id=flt.trace_id,
            data_type=flt.data_type,
        )
        where.time_range("timestamp", flt.from_us, flt.to_us)
        where.environments(flt.environments)
        if flt.operator is not None:
            where.add(f"value {flt.operator} {{value:Float64}}", value=flt.value)
        if flt.score_ids:
            where.add("id IN {score_ids:Array(String)}", score_ids=flt.score_ids)
        if flt.observation_ids:
            where.add("observation_id IN {obs_ids:Array(String)}", obs_ids=flt.observation_ids)
        if flt.user_id is not None:
            self._traces_where(where, "user_id = {user_id:String}", user_id=flt.user_id)
        if flt.trace_tags:
            self._traces_where(where, "hasAll(tags, {tags:Array(String)})", tags=flt.trace_tags)
        return where

    def list_v2(
        self, project_id: str, flt: ScoreFilter, page: PageRequest
    ) -> tuple[list[Row], int]:
        """One page of scores matching ``flt`` (newest first) and the number matching."""
        where = self._v2_where(project_id, flt)
        rows = self._client.select(
            f"SELECT {SCORE_COLUMNS} FROM {self._db}.scores FINAL WHERE {where.sql()}"
            " ORDER BY timestamp DESC, id DESC LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
            {**where.params, "limit": page.limit, "offset": page.offset},
        )
        count = self._client.select(
            f"SELECT count() AS n FROM {self._db}.scores FINAL WHERE {where.sql()}", where.params
        )
        return rows, int(count[0]["n"]) if count else 0

    def get(self, project_id: str, score_id: str) -> Row | None:
        """The score ``score_id`` of ``project_id``, or None."""
        rows = self._client.select(
            f"SELECT {SCORE_COLUMNS} FROM {self._db}.scores FINAL"
            " WHERE project_id = {project_id:String} AND id = {id:String} AND is_deleted = 0"
            " ORDER BY updated_at DESC LIMIT 1",
            {"project_id": project_id, "id": score_id},
        )
        return rows[0] if rows else None

    def trace_summaries(self, project_id: str, trace_ids: list[str]) -> dict[str, Row]:
        """``{trace id: {id, user_id, tags, environment, session_id}}`` of existing traces."""
        if not trace_ids:
            return {}
        rows = self._client.select(
            f"SELECT id, user_id, tags, environment, session_id FROM {self._db}.traces FINAL"
            " WHERE project_id = {project_id:String} AND id IN {ids:Array(String)}"
            " AND is_deleted = 0",
            {"project_id": project_id, "ids": trace_ids},
        )
        return {row["id"]: row for row in rows}

    def list_v3(self, project_id: str, q: V3Query) -> list[Row]:
        """Up to ``q.limit + 1`` scores after ``q.cursor``, newest first (one extra row tells
        whether another page exists)."""
        where = Where(project_id)
        for n, (column, values) in enumerate(sorted(q.lists.items())):
            where.add(f"{column} IN {{l{n}:Array(String)}}", **{f"l{n}": values})
        if q.values:
            where.add("value IN {values:Array(Float64)}", values=q.values)
        if q.string_values:
            where.add("string_value IN {svalues:Array(String)}", svalues=q.string_values)
        if q.value_min is not None:
            where.add("value >= {vmin:Float64}", vmin=q.value_min)
        if q.value_max is not None:
            where.add("value <= {vmax:Float64}", vmax=q.value_max)
        where.time_range("timestamp", q.from_us, q.to_us)
        if q.cursor is not None:
            where.add(
                "(timestamp, id) < (fromUnixTimestamp64Micro({c_ts:Int64}), {c_id:String})",
                c_ts=q.cursor[0],
                c_id=q.cursor[1],
            )
        return self._client.select(
            f"SELECT {SCORE_COLUMNS} FROM {self._db}.scores FINAL WHERE {where.sql()}"
            " ORDER BY timestamp DESC, id DESC LIMIT {limit:UInt32}",
            {**where.params, "limit": q.limit + 1},
        )
