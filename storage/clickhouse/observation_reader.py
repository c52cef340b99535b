"""Stored rows for the ingestion merge step (``processors.merge``; langfuse-anchor.md §3.4).

- ``ObservationReader.read(keys)``: the stored observation of each ``(project_id, id)`` as an
  ``ObservationRecord`` holding the client-provided fields (enrichment fields are left empty:
  the enricher recomputes them from the merged record). ONE query per call, ``FINAL``,
  project-scoped, ``is_deleted = 0``.
- ``TraceOnlyWriter.write(records)``: applies ``trace_only`` records (trace-create events) to the
  ``traces`` table with the writer's own trace merge (``storage.clickhouse.traces``). Interim:
  ``ClickHouseWriter`` writes an observation row for every record it gets, so trace-only records
  cannot go through it yet; once it skips ``record.trace_only`` records for the observation rows
  (a one-line change), this class can go and the records can be passed to the writer.

Money columns are read as decimal text (``toString``), times as Unix µs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from storage.clickhouse.engine import Engine
from storage.clickhouse.traces import (
    TRACE_STATE_COLUMNS,
    TraceKey,
    TraceState,
    merge_trace,
    trace_row,
    trace_state_from_row,
)
from storage.clickhouse.writer import EventClock
from storage.records import ObservationRecord, TraceFields

__all__ = ["STORED_OBSERVATION_COLUMNS", "ObservationReader", "TraceOnlyWriter", "stored_record"]

ObservationKey = tuple[str, str]
"""``(project_id, observation id)``."""

STORED_OBSERVATION_COLUMNS = """
    project_id, id, trace_id, parent_observation_id, type, name, environment,
    toUnixTimestamp64Micro(start_time) AS start_time_us,
    toUnixTimestamp64Micro(end_time) AS end_time_us,
    toUnixTimestamp64Micro(completion_start_time) AS completion_start_time_us,
    level, status_message, version, release, input, output, metadata,
    provided_model_name, model_parameters, provided_usage_details,
    mapApply((k, v) -> (k, toString(v)), provided_cost_details) AS provided_cost_details,
    prompt_name, prompt_version, prompt_id,
    is_root, trace_name, user_id, session_id, tags,
    scope_name, scope_version, service_name, service_version,
    telemetry_sdk_language, telemetry_sdk_name, telemetry_sdk_version,
    ingestion_sdk_name, ingestion_sdk_version
"""
"""``SELECT`` list read by ``stored_record``."""

_OPTIONAL_COLUMNS = (
    "parent_observation_id",
    "end_time_us",
    "completion_start_time_us",
    "status_message",
    "version",
    "release",
    "input",
    "output",
    "provided_model_name",
    "model_parameters",
    "prompt_name",
    "prompt_version",
    "prompt_id",
)
_PLAIN_COLUMNS = (
    "project_id",
    "id",
    "trace_id",
    "type",
    "name",
    "environment",
    "level",
    "scope_name",
    "scope_version",
    "service_name",
    "service_version",
    "telemetry_sdk_language",
    "telemetry_sdk_name",
    "telemetry_sdk_version",
    "ingestion_sdk_name",
    "ingestion_sdk_version",
)


def stored_record(row: Mapping[str, Any]) -> ObservationRecord:
    """The ``ObservationRecord`` of a row selected with ``STORED_OBSERVATION_COLUMNS``."""
    record = ObservationRecord(start_time_us=int(row["start_time_us"]))
    for name in _PLAIN_COLUMNS:
        setattr(record, name, row[name])
    for name in _OPTIONAL_COLUMNS:
        value = row[name]
        if value is not None:
            setattr(record, name, int(value) if name.endswith(("_us", "_version")) else value)
    record.metadata.update(row["metadata"])
    record.provided_usage_details.update(
        {k: int(v) for k, v in row["provided_usage_details"].items()}
    )
    record.provided_cost_details.update(row["provided_cost_details"])
    trace = TraceFields(is_root=bool(row["is_root"]), tags=row["tags"])
    for column, field in (
        ("trace_name", "name"),
        ("user_id", "user_id"),
        ("session_id", "session_id"),
    ):
        if row[column] is not None:
            setattr(trace, field, row[column])
    record.trace.CopyFrom(trace)
    return record


def _key_conditions(keys: Iterable[tuple[str, str]]) -> tuple[str, dict[str, object]]:
    """``(project_id = … AND id IN …) OR …`` grouped by project, and its parameters."""
    by_project: dict[str, list[str]] = {}
    for project_id, entity_id in keys:
        ids = by_project.setdefault(project_id, [])
        if entity_id not in ids:
            ids.append(entity_id)
    conditions: list[str] = []
    params: dict[str, object] = {}
    for n, (project_id, ids) in enumerate(by_project.items()):
        conditions.append(f"(project_id = {{p{n}:String}} AND id IN {{i{n}:Array(String)}})")
        params[f"p{n}"] = project_id
        params[f"i{n}"] = ids
    return " OR ".join(conditions), params


class ObservationReader:
    """Reads the stored observations that partial records are merged onto.

    Args:
        engine: the shared ClickHouse engine.
        database: database holding the ``observations`` table.
    """

    def __init__(self, engine: Engine, database: str = "otelfuse") -> None:
        self._engine = engine
        self._db = database

    def read(self, keys: Iterable[ObservationKey]) -> dict[ObservationKey, list[ObservationRecord]]:
        """Stored observations per ``(project_id, id)``, most recently written first.

        One id normally has one row; several rows (same id in different traces, e.g. an OTLP
        span id reused by a legacy client) are all returned and the caller picks.

        Raises:
            RetryableError / PermanentError: from the engine.
        """
        where, params = _key_conditions(keys)
        if not params:
            return {}
        rows = self._engine.select(
            f"SELECT {STORED_OBSERVATION_COLUMNS} FROM {self._db}.observations FINAL"
            f" WHERE ({where}) AND is_deleted = 0 ORDER BY event_ts DESC",
            params,
        )
        found: dict[ObservationKey, list[ObservationRecord]] = {}
        for row in rows:
            found.setdefault((row["project_id"], row["id"]), []).append(stored_record(row))
        return found


class TraceOnlyWriter:
    """Upserts trace-only records into ``traces`` (interim, see the module docstring).

    ``write`` folds the records into the stored trace states with ``merge_trace`` (the rules
    of ``ClickHouseWriter``) and inserts the changed rows. It must run in the same thread as
    the ``ClickHouseWriter`` calls (the pipeline's process step) and be followed by
    ``ClickHouseWriter.clear_cache()``, or the writer's trace cache would overwrite it.
    """

    def __init__(self, engine: Engine, database: str = "otelfuse") -> None:
        self._engine = engine
        self._db = database
        self._clock = EventClock()

    def write(self, records: Sequence[ObservationRecord]) -> None:
        """Merge ``records`` (all ``trace_only``) into their traces; ONE read, ONE insert.

        Raises:
            PermanentError: a record has a time outside 1973..2286 or lacks its ids.
            RetryableError: ClickHouse failed transiently; nothing was written.
        """
        groups: dict[TraceKey, list[ObservationRecord]] = {}
        for record in records:
            groups.setdefault((record.project_id, record.trace_id), []).append(record)
        if not groups:
            return
        where, params = _key_conditions(groups)
        states: dict[TraceKey, TraceState] = {}
        for row in self._engine.select(
            f"SELECT {TRACE_STATE_COLUMNS} FROM {self._db}.traces FINAL"
            f" WHERE ({where}) AND is_deleted = 0",
            params,
        ):
            state = trace_state_from_row(row)
            states[(state.project_id, state.id)] = state
        now = self._clock.now_us()
        rows: list[dict[str, Any]] = []
        for key, recs in groups.items():
            old = states.get(key)
            new = merge_trace(old, key, recs, now_us=now)
            if old is None or new != old:
                rows.append(trace_row(new, updated_at_us=now, event_ts_us=now))
        if rows:
            self._engine.insert_rows(
                f"{self._db}.traces", tuple(rows[0]), [tuple(row.values()) for row in rows]
            )
