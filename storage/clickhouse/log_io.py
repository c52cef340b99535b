"""Input/output of GenAI event log records, kept to be folded onto their span
(``migrations/0005_create_log_io.sql``; docs/mapping.md "GenAI event log records").

A log record may arrive before its span, after it, or the span may be sent again after both.
``processors.log_merge`` therefore keeps every ``from_log`` record here (``keep``) and, for every
batch of spans, reads the kept records of their traces (``read``) and folds them onto the spans,
so each write of a span carries its log content. Rows are keyed by ``(project_id, trace_id, id,
key)``, ``key`` being a hash of the content: keeping the same record twice (a resent export, a
redelivered Kafka message) leaves one row. Rows expire after 7 days (table TTL). Reads are
``FINAL``, filtered by ``(project_id, trace_id)`` in ``PREWHERE`` (the sort key's prefix; see
``storage.clickhouse.keys``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence

from storage.clickhouse.client import Client
from storage.clickhouse.keys import key_condition
from storage.clickhouse.writer import EventClock
from storage.records import ObservationRecord

__all__ = ["LogIOKey", "LogIOStore", "content_key"]

LogIOKey = tuple[str, str, str]
"""``(project_id, trace_id, observation id)``."""

_COLUMNS = (
    "project_id",
    "trace_id",
    "id",
    "key",
    "input",
    "output",
    "received_at",
    "event_ts",
)


def content_key(record: ObservationRecord) -> str:
    """32 hex characters of SHA-256 over the record's input and output (presence kept)."""
    parts = [
        "i" + record.input if record.HasField("input") else "-",
        "o" + record.output if record.HasField("output") else "-",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class LogIOStore:
    """The kept ``from_log`` records of one ClickHouse database.

    Args:
        client: the shared ClickHouse client.
        database: the database holding ``log_io``.
    """

    def __init__(self, client: Client, database: str = "otelfuse") -> None:
        self._client = client
        self._db = database
        self._clock = EventClock()
        self._lock = threading.Lock()

    def read(self, traces: Iterable[tuple[str, str]]) -> dict[LogIOKey, list[ObservationRecord]]:
        """Kept records of the ``(project_id, trace_id)`` pairs, per observation, in the order
        they were (last) kept (ONE query; ``{}`` for no traces).

        Raises:
            RetryableError / PermanentError: from the client.
        """
        condition, params = key_condition(traces, column="trace_id")
        if not params:
            return {}
        rows = self._client.select(
            "SELECT project_id, trace_id, id, input, output"
            f" FROM {self._db}.log_io FINAL PREWHERE {condition}"
            " WHERE is_deleted = 0 ORDER BY received_at, key",
            params,
        )
        found: dict[LogIOKey, list[ObservationRecord]] = {}
        for row in rows:
            record = ObservationRecord(
                project_id=row["project_id"],
                trace_id=row["trace_id"],
                id=row["id"],
                partial=True,
                from_log=True,
            )
            if row["input"] is not None:
                record.input = row["input"]
            if row["output"] is not None:
                record.output = row["output"]
            found.setdefault((record.project_id, record.trace_id, record.id), []).append(record)
        return found

    def keep(self, records: Sequence[ObservationRecord]) -> None:
        """Store ``records`` (``from_log`` records: ids and input/output).

        Raises:
            RetryableError / PermanentError: from the client; nothing is guaranteed stored.
        """
        if not records:
            return
        with self._lock:
            now = self._clock.now_us()
        rows = [
            (
                r.project_id,
                r.trace_id,
                r.id,
                content_key(r),
                r.input if r.HasField("input") else None,
                r.output if r.HasField("output") else None,
                now,
                now,
            )
            for r in records
        ]
        self._client.insert_rows(f"{self._db}.log_io", _COLUMNS, rows)
