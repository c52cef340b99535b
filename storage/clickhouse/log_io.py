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

Most traces have no log records, so with a sole writer (embedded ClickHouse: the process holding
the data folder is the only one writing it) ``SoleWriterLogIO`` keeps the set of
``(project_id, trace_id)`` pairs held in ``log_io`` in memory and reads only the traces in it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence

from storage.clickhouse.client import Client
from storage.clickhouse.keys import key_condition
from storage.clickhouse.writer import EventClock
from storage.records import ObservationRecord

__all__ = ["TRACE_INDEX_LIMIT", "LogIOKey", "LogIOStore", "SoleWriterLogIO", "content_key"]

LogIOKey = tuple[str, str, str]
"""``(project_id, trace_id, observation id)``."""

TRACE_INDEX_LIMIT = 100_000
"""Most ``(project_id, trace_id)`` pairs ``SoleWriterLogIO`` holds in memory (about 200 bytes
each); beyond it, it reads every batch's traces as ``LogIOStore`` does."""

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

    def traces(self, limit: int) -> set[tuple[str, str]] | None:
        """The distinct ``(project_id, trace_id)`` pairs of all stored rows (deleted rows and
        rows past their TTL but not yet merged away included: a superset), or None when there
        are more than ``limit`` (ONE query, at most ``limit + 1`` rows).

        Raises:
            RetryableError / PermanentError: from the client.
        """
        rows = self._client.select(
            f"SELECT DISTINCT project_id, trace_id FROM {self._db}.log_io LIMIT {int(limit) + 1}"
        )
        if len(rows) > limit:
            return None
        return {(row["project_id"], row["trace_id"]) for row in rows}

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


class SoleWriterLogIO:
    """``LogIOStore`` that skips the read of traces without kept records, for a process that
    is the ONLY writer of ``log_io`` (embedded ClickHouse, whose data folder one process holds).

    It holds every ``(project_id, trace_id)`` pair that may have rows: loaded from the table on
    first use (``LogIOStore.traces``) and extended by every ``keep`` BEFORE its insert, so the
    set is always a superset of the stored pairs (deletions and TTL only remove rows; a pair
    kept in vain costs one read). ``read`` then asks only for the batch's traces in the set,
    and issues no query when there are none. Beyond ``limit`` pairs (at load or later) it
    stops indexing and reads every trace, as ``LogIOStore`` does.

    Not exact with several writers (scale-out processors, whose Kafka partitions move between
    them): there, use ``LogIOStore`` itself.

    Args:
        store: the kept records.
        limit: most pairs held (``TRACE_INDEX_LIMIT``).
    """

    def __init__(self, store: LogIOStore, limit: int = TRACE_INDEX_LIMIT) -> None:
        self._store = store
        self._limit = limit
        self._lock = threading.Lock()
        self._loaded = False
        self._pairs: set[tuple[str, str]] | None = None  # None: not indexing (over the limit)

    def _index(self) -> set[tuple[str, str]] | None:
        """The pair set (loaded on first use), or None when not indexing; caller holds the lock."""
        if not self._loaded:
            self._pairs = self._store.traces(self._limit)
            self._loaded = True
        return self._pairs

    def read(self, traces: Iterable[tuple[str, str]]) -> dict[LogIOKey, list[ObservationRecord]]:
        """``LogIOStore.read`` of the pairs in ``traces`` that may have kept records.

        Raises:
            RetryableError / PermanentError: from the client (the first load included).
        """
        with self._lock:
            pairs = self._index()
            wanted = list(traces) if pairs is None else [t for t in traces if t in pairs]
        return self._store.read(wanted) if wanted else {}

    def keep(self, records: Sequence[ObservationRecord]) -> None:
        """``LogIOStore.keep``, the records' pairs indexed first.

        Raises:
            RetryableError / PermanentError: from the client (the first load included).
        """
        if not records:
            return
        with self._lock:
            pairs = self._index()
            if pairs is not None:
                pairs.update((r.project_id, r.trace_id) for r in records)
                if len(pairs) > self._limit:
                    self._pairs = None
        self._store.keep(records)
