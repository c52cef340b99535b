"""Score writer: ``ScoreRecord`` batches -> ``scores`` rows (docs/reference/langfuse.md §2.3, §3.4).

Used by the score receivers (``POST /api/public/scores``, ``score-create`` ingestion events).
``write_scores`` is synchronous (run it in a worker thread) and returns only after the insert
succeeded, so the caller may then answer the client.

Redelivery and updates (docs/architecture.md "Guarantees and how they are met"; Langfuse's score
merge, docs/reference/langfuse.md §3.4): rows are keyed by
``(project_id, toDate(timestamp), name, id)`` in a ReplacingMergeTree that reads deduplicate with
``FINAL``. Before inserting, the writer reads the stored rows of the batch's ids (ONE query):

- ``timestamp``, ``trace_id`` and ``environment`` keep their stored values (Langfuse's immutable
  score keys), so a retried request without an explicit timestamp lands on the same row;
- a score equal to its stored row is not rewritten (``createdAt``/``updatedAt`` unchanged);
- ``created_at`` is kept from the first write;
- when the new row's name differs from a stored row's (the sort key changed: the score was
  renamed), the stored row gets a tombstone (``is_deleted = 1``) so ``FINAL`` drops it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from storage.clickhouse.client import Client
from storage.clickhouse.keys import key_condition
from storage.clickhouse.rows import check_time
from storage.clickhouse.writer import EventClock
from storage.errors import PermanentError
from storage.records import SCORE_DATA_TYPES, SCORE_SOURCES, ScoreRecord

__all__ = ["SCORE_COLUMNS", "ScoreWriter", "score_from_row", "score_row"]

ScoreKey = tuple[str, str]
"""``(project_id, score id)``."""

SCORE_COLUMNS = """
    id, project_id, name, value, string_value, data_type, source, environment,
    trace_id, session_id, observation_id, dataset_run_id, comment, metadata,
    config_id, queue_id, author_user_id,
    toUnixTimestamp64Micro(timestamp) AS timestamp_us,
    toUnixTimestamp64Micro(created_at) AS created_at_us,
    toUnixTimestamp64Micro(updated_at) AS updated_at_us
"""
"""``SELECT`` list of a score row, read by ``score_from_row`` and the score read API."""

_OPTIONAL = (
    "trace_id",
    "session_id",
    "observation_id",
    "dataset_run_id",
    "string_value",
    "comment",
    "config_id",
    "queue_id",
    "author_user_id",
)


def score_row(
    record: ScoreRecord, *, created_at_us: int, updated_at_us: int, event_ts_us: int, deleted: bool
) -> dict[str, Any]:
    """The ``scores`` row (``migrations/0003_create_scores.sql``) of ``record``; times Unix µs.

    Raises:
        PermanentError: a time is outside 1973..2286.
    """
    r = record
    has = r.HasField
    return {
        "id": r.id,
        "timestamp": check_time(r.timestamp_us, f"score {r.id} timestamp"),
        "project_id": r.project_id,
        "environment": r.environment or "default",
        "trace_id": r.trace_id if has("trace_id") else None,
        "session_id": r.session_id if has("session_id") else None,
        "observation_id": r.observation_id if has("observation_id") else None,
        "dataset_run_id": r.dataset_run_id if has("dataset_run_id") else None,
        "name": r.name,
        "value": r.value,
        "string_value": r.string_value if has("string_value") else None,
        "data_type": r.data_type,
        "source": r.source,
        "comment": r.comment if has("comment") else None,
        "metadata": dict(r.metadata),
        "config_id": r.config_id if has("config_id") else None,
        "queue_id": r.queue_id if has("queue_id") else None,
        "author_user_id": r.author_user_id if has("author_user_id") else None,
        "created_at": check_time(created_at_us, "created_at"),
        "updated_at": check_time(updated_at_us, "updated_at"),
        "event_ts": check_time(event_ts_us, "event_ts"),
        "is_deleted": 1 if deleted else 0,
    }


def score_from_row(row: Mapping[str, Any]) -> ScoreRecord:
    """The ``ScoreRecord`` of a row selected with ``SCORE_COLUMNS``."""
    record = ScoreRecord(
        project_id=row["project_id"],
        id=row["id"],
        timestamp_us=int(row["timestamp_us"]),
        name=row["name"],
        value=float(row["value"]),
        data_type=row["data_type"],
        source=row["source"],
        environment=row["environment"],
        metadata=row["metadata"],
    )
    for name in _OPTIONAL:
        value = row[name]
        if value is not None:
            setattr(record, name, value)
    return record


def _check(record: ScoreRecord) -> None:
    if not (record.project_id and record.id and record.name):
        raise PermanentError(
            f"score record without project_id, id or name (id={record.id!r}, name={record.name!r})"
        )
    if record.data_type not in SCORE_DATA_TYPES:
        raise PermanentError(f"score {record.id}: unknown data_type {record.data_type!r}")
    if record.source not in SCORE_SOURCES:
        raise PermanentError(f"score {record.id}: unknown source {record.source!r}")
    check_time(record.timestamp_us, f"score {record.id} timestamp")


class _Stored:
    """A stored score row: its record and first write time (Unix µs)."""

    __slots__ = ("created_at_us", "record")

    def __init__(self, record: ScoreRecord, created_at_us: int) -> None:
        self.record = record
        self.created_at_us = created_at_us


class ScoreWriter:
    """Writes ``ScoreRecord`` batches to the ``scores`` table (rules in the module docstring).

    Args:
        client: the shared ClickHouse client.
        database: database holding the tables created by ``apply_migrations``.
    """

    def __init__(self, client: Client, database: str = "otelfuse") -> None:
        self._client = client
        self._db = database
        self._clock = EventClock()
        self._lock = threading.Lock()

    def write_scores(self, records: Sequence[ScoreRecord]) -> None:
        """Upsert one row per score id; within a batch the last record of an id wins.

        Calls are serialised (read-modify-write of the immutable fields).

        Raises:
            PermanentError: a record lacks project_id/id/name, has an unknown data type or
                source, or a time outside 1973..2286; ClickHouse rejected the rows.
            RetryableError: ClickHouse failed transiently; nothing was written, retry.
        """
        if not records:
            return
        latest: dict[ScoreKey, ScoreRecord] = {}
        for record in records:
            _check(record)
            latest[(record.project_id, record.id)] = record
        with self._lock:
            self._write(latest)

    def _write(self, latest: dict[ScoreKey, ScoreRecord]) -> None:
        stored = self._stored(list(latest))
        # Tombstones get an older version than the rows that replace them: if a tombstone's
        # sort key turns out to equal the new row's, the new row still wins.
        tombstone_ts = self._clock.now_us()
        now = self._clock.now_us()
        rows: list[dict[str, Any]] = []
        for key, incoming in latest.items():
            previous = stored.get(key, [])
            record = _with_immutables(incoming, previous[0].record) if previous else incoming
            if len(previous) == 1 and previous[0].record == record:
                continue  # redelivered unchanged: keep the stored row and its timestamps
            for old in previous:
                if (old.record.name, old.record.timestamp_us) != (record.name, record.timestamp_us):
                    rows.append(
                        score_row(
                            old.record,
                            created_at_us=old.created_at_us,
                            updated_at_us=tombstone_ts,
                            event_ts_us=tombstone_ts,
                            deleted=True,
                        )
                    )
            created = min((p.created_at_us for p in previous), default=now)
            rows.append(
                score_row(
                    record, created_at_us=created, updated_at_us=now, event_ts_us=now, deleted=False
                )
            )
        if rows:
            columns = tuple(rows[0])
            self._client.insert_rows(
                f"{self._db}.scores", columns, [tuple(row.values()) for row in rows]
            )

    def _stored(self, keys: list[ScoreKey]) -> dict[ScoreKey, list[_Stored]]:
        """Stored rows of ``keys`` (ONE query), newest first per key."""
        condition, params = key_condition(keys)  # as PREWHERE: see storage.clickhouse.keys
        rows = self._client.select(
            f"SELECT {SCORE_COLUMNS} FROM {self._db}.scores FINAL"
            f" PREWHERE {condition} WHERE is_deleted = 0"
            " ORDER BY updated_at DESC",
            params,
        )
        stored: dict[ScoreKey, list[_Stored]] = {}
        for row in rows:
            record = score_from_row(row)
            entry = _Stored(record, int(row["created_at_us"]))
            stored.setdefault((record.project_id, record.id), []).append(entry)
        return stored


def _with_immutables(incoming: ScoreRecord, stored: ScoreRecord) -> ScoreRecord:
    """``incoming`` with the stored timestamp, trace id and environment (§3.4 immutable keys)."""
    record = ScoreRecord()
    record.CopyFrom(incoming)
    record.timestamp_us = stored.timestamp_us
    if stored.HasField("trace_id"):
        record.trace_id = stored.trace_id
    record.environment = stored.environment
    return record
