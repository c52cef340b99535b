"""Stored rows for the ingestion merge step (``processors.merge``; langfuse-anchor.md §3.4).

- ``ObservationReader.read(keys)``: the stored observation of each ``(project_id, id)`` as an
  ``ObservationRecord`` holding the client-provided fields (enrichment fields are left empty:
  the enricher recomputes them from the merged record). ONE query per call, ``FINAL``,
  project-scoped, ``is_deleted = 0``.
- trace-only records (trace-create events) are written by ``ClickHouseWriter.write_traces``.

Money columns are read as decimal text (``toString``), times as Unix µs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from storage.clickhouse.client import Client
from storage.clickhouse.keys import key_condition
from storage.records import ObservationRecord, TraceFields

__all__ = ["STORED_OBSERVATION_COLUMNS", "ObservationReader", "stored_record"]

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


class ObservationReader:
    """Reads the stored observations that partial records are merged onto.

    Args:
        client: the shared ClickHouse client.
        database: database holding the ``observations`` table.
    """

    def __init__(self, client: Client, database: str = "otelfuse") -> None:
        self._client = client
        self._db = database

    def read(self, keys: Iterable[ObservationKey]) -> dict[ObservationKey, list[ObservationRecord]]:
        """Stored observations per ``(project_id, id)``, most recently written first.

        One id normally has one row; several rows (same id in different traces, e.g. an OTLP
        span id reused by a legacy client) are all returned and the caller picks.

        Raises:
            RetryableError / PermanentError: from the client.
        """
        condition, params = key_condition(keys)  # as PREWHERE: see storage.clickhouse.keys
        if not params:
            return {}
        rows = self._client.select(
            f"SELECT {STORED_OBSERVATION_COLUMNS} FROM {self._db}.observations FINAL"
            f" PREWHERE {condition} WHERE is_deleted = 0 ORDER BY event_ts DESC",
            params,
        )
        found: dict[ObservationKey, list[ObservationRecord]] = {}
        for row in rows:
            found.setdefault((row["project_id"], row["id"]), []).append(stored_record(row))
        return found
