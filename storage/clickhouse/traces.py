"""Trace rows merged from observation records (docs/reference/langfuse.md §1.6, §3.4).

A trace has no record of its own: every ``ObservationRecord`` carries the trace-level fields set
on its span (``record.trace``), and the writer folds them into one ``traces`` row per
(project_id, trace_id). Merge rules, applied per record in batch order:

- ``timestamp`` = earliest observation start, ``end_time`` = latest (end or start);
- ``name``: an explicit ``trace.name`` overwrites; a root span's observation name only fills an
  empty name;
- ``user_id``, ``session_id``, ``release``, ``version``: the later non-empty value wins;
- ``environment``: the first value seen; ``created_at``: kept from the first write;
- ``tags``: sorted union; ``public``: the later explicitly set value (a span or event without
  it keeps the current one); ``bookmarked``: kept;
- ``metadata``: ``trace.metadata`` deep-merged (``storage.metadata``: JSON objects merge key
  by key, other values are replaced), then a root span's own metadata keys that are not set
  yet;
- ``input``/``output``: explicit ``trace.input``/``output`` overwrite; a root span's observation
  input/output only fill an empty value.

Merging the same records twice gives the same state, so a redelivered batch changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.clickhouse.rows import check_time
from storage.metadata import merge_metadata_into
from storage.records import MAX_TIME_US, MIN_TIME_US, ObservationRecord

__all__ = [
    "TRACE_COLUMNS",
    "TRACE_STATE_COLUMNS",
    "TraceKey",
    "TraceState",
    "check_trace_times",
    "merge_trace",
    "trace_columns",
    "trace_state_from_row",
]

TraceKey = tuple[str, str]
"""``(project_id, trace_id)``."""


@dataclass(slots=True)
class TraceState:
    """The merged fields of one trace; times are Unix µs. Treat instances as immutable."""

    project_id: str
    id: str
    timestamp_us: int
    end_time_us: int | None = None
    name: str = ""
    user_id: str | None = None
    session_id: str | None = None
    release: str | None = None
    version: str | None = None
    environment: str = "default"
    public: bool = False
    bookmarked: bool = False
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    input: str | None = None
    output: str | None = None
    created_at_us: int = 0


def merge_trace(
    current: TraceState | None,
    key: TraceKey,
    records: Sequence[ObservationRecord],
    *,
    now_us: int,
) -> TraceState:
    """Fold ``records`` (all of trace ``key``, in batch order) into ``current``.

    ``current`` is not modified; ``None`` starts a new trace created at ``now_us``.
    ``records`` must not be empty.
    """
    first = records[0]
    if current is None:
        state = TraceState(
            project_id=key[0],
            id=key[1],
            timestamp_us=first.start_time_us,
            environment=first.environment or "default",
            created_at_us=now_us,
        )
    else:
        state = _copy(current)
    tags = set(state.tags)
    for record in records:
        _merge_record(state, record, tags)
    state.tags = tuple(sorted(tags))
    return state


def _copy(state: TraceState) -> TraceState:
    """A copy of ``state`` with its own metadata dict (7x cheaper than ``dataclasses.replace``;
    every field, ``tests/storage/clickhouse/test_trace_merge.py``)."""
    return TraceState(
        state.project_id,
        state.id,
        state.timestamp_us,
        state.end_time_us,
        state.name,
        state.user_id,
        state.session_id,
        state.release,
        state.version,
        state.environment,
        state.public,
        state.bookmarked,
        state.tags,
        dict(state.metadata),
        state.input,
        state.output,
        state.created_at_us,
    )


def _merge_record(state: TraceState, record: ObservationRecord, tags: set[str]) -> None:
    # Hot path (once per record): every protobuf field is read once, and ``HasField`` is asked
    # only where an explicitly set empty value matters (for an optional string or bool, "set and
    # non-empty" is just "non-empty").
    # A record with no trace-level field set (``ListFields`` lists only set fields: most child
    # spans) folds only its times, release and version: every rule below needs a set field
    # (``is_root`` is listed when true).
    t = record.trace
    start = record.start_time_us
    end = record.end_time_us
    if not end and not record.HasField("end_time_us"):
        end = start
    if start < state.timestamp_us:
        state.timestamp_us = start
    state.end_time_us = max(end, start, state.end_time_us or end)
    if release := record.release:
        state.release = release
    if version := record.version:
        state.version = version
    if not t.ListFields():
        return

    is_root = t.is_root
    if name := t.name:
        state.name = name
    elif is_root and not state.name and record.name:
        state.name = record.name
    if user_id := t.user_id:
        state.user_id = user_id
    if session_id := t.session_id:
        state.session_id = session_id
    if trace_tags := t.tags:
        tags.update(trace_tags)
    if t.HasField("public"):
        state.public = t.public

    if trace_metadata := t.metadata:
        merge_metadata_into(state.metadata, trace_metadata)
    if is_root and (own_metadata := record.metadata):
        metadata = state.metadata
        for k in own_metadata:  # not .items(): a protobuf map's items view is Python-level
            if k not in metadata:
                metadata[k] = own_metadata[k]

    if (trace_input := t.input) or t.HasField("input"):
        state.input = trace_input
    elif is_root and not state.input and record.HasField("input"):
        state.input = record.input
    if (trace_output := t.output) or t.HasField("output"):
        state.output = trace_output
    elif is_root and not state.output and record.HasField("output"):
        state.output = record.output


TRACE_COLUMNS: tuple[str, ...] = (
    "id",
    "project_id",
    "timestamp",
    "end_time",
    "name",
    "user_id",
    "session_id",
    "release",
    "version",
    "environment",
    "public",
    "bookmarked",
    "tags",
    "metadata",
    "input",
    "output",
    "created_at",
    "updated_at",
    "event_ts",
    "is_deleted",
)
"""The columns of ``trace_columns``, in their order."""


def trace_columns(
    states: Sequence[TraceState], *, updated_at_us: int, event_ts_us: int
) -> dict[str, list[Any]]:
    """The ``traces`` rows of ``states`` column by column (for ``insert_columns``):
    ``{column: values}`` in ``TRACE_COLUMNS`` order (``migrations/0002_create_traces.sql``);
    times in Unix µs.

    Raises:
        PermanentError: a time is outside the supported range (the first, row by row, in
            column order: ``check_trace_times``).
    """
    if states:
        times = [s.timestamp_us for s in states]
        times += [s.created_at_us for s in states]
        times += [e for s in states if (e := s.end_time_us) is not None]
        times += [updated_at_us, event_ts_us]
        if min(times) < MIN_TIME_US or max(times) > MAX_TIME_US:
            for s in states:  # the first error, row by row
                check_trace_times(s, updated_at_us=updated_at_us, event_ts_us=event_ts_us)
    # Column by column (migrations/0002_create_traces.sql), no dict per row.
    n = len(states)
    return {
        "id": [s.id for s in states],
        "project_id": [s.project_id for s in states],
        "timestamp": [s.timestamp_us for s in states],
        "end_time": [s.end_time_us for s in states],
        "name": [s.name for s in states],
        "user_id": [s.user_id for s in states],
        "session_id": [s.session_id for s in states],
        "release": [s.release for s in states],
        "version": [s.version for s in states],
        "environment": [s.environment for s in states],
        "public": [s.public for s in states],
        "bookmarked": [s.bookmarked for s in states],
        "tags": [list(s.tags) for s in states],
        "metadata": [s.metadata for s in states],
        "input": [s.input for s in states],
        "output": [s.output for s in states],
        "created_at": [s.created_at_us for s in states],
        "updated_at": [updated_at_us] * n,
        "event_ts": [event_ts_us] * n,
        "is_deleted": [0] * n,
    }


def check_trace_times(state: TraceState, *, updated_at_us: int, event_ts_us: int) -> None:
    """Check the times of ``state``'s ``traces`` row (Unix µs) in column order.

    Raises:
        PermanentError: a time is outside the supported range (the first one, in column order).
    """
    check_time(state.timestamp_us, f"trace {state.id} timestamp")
    if state.end_time_us is not None:
        check_time(state.end_time_us, f"trace {state.id} end_time")
    check_time(state.created_at_us, "created_at")
    check_time(updated_at_us, "updated_at")
    check_time(event_ts_us, "event_ts")


TRACE_STATE_COLUMNS = """
    project_id, id,
    toUnixTimestamp64Micro(timestamp) AS timestamp_us,
    toUnixTimestamp64Micro(end_time) AS end_time_us,
    name, user_id, session_id, release, version, environment, public, bookmarked, tags, metadata,
    input, output,
    toUnixTimestamp64Micro(created_at) AS created_at_us
"""
"""The ``SELECT`` list that ``trace_state_from_row`` reads."""


def trace_state_from_row(row: Mapping[str, Any]) -> TraceState:
    """A ``TraceState`` from a row selected with ``TRACE_STATE_COLUMNS``."""
    end = row["end_time_us"]
    return TraceState(
        project_id=row["project_id"],
        id=row["id"],
        timestamp_us=int(row["timestamp_us"]),
        end_time_us=int(end) if end is not None else None,
        name=row["name"],
        user_id=row["user_id"],
        session_id=row["session_id"],
        release=row["release"],
        version=row["version"],
        environment=row["environment"],
        public=bool(row["public"]),
        bookmarked=bool(row["bookmarked"]),
        tags=tuple(row["tags"]),
        metadata=dict(row["metadata"]),
        input=row["input"],
        output=row["output"],
        created_at_us=int(row["created_at_us"]),
    )
