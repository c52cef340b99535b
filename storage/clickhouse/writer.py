"""Batch writer: observation records -> ``observations`` rows + merged ``traces`` rows.

Used by the processor after enrichment (docs/architecture.md "Data flow (all-in-one)").
``write_observations`` is synchronous and meant for a worker thread; it returns only after both
inserts succeeded, so the caller may then acknowledge the batch (commit Kafka offsets / answer the
OTLP export).

Redelivery safety (docs/architecture.md "Guarantees and how they are met"): rows are keyed by id in
ReplacingMergeTree tables that reads deduplicate with FINAL. On top of that the writer skips work
that would only change bookkeeping columns: an observation whose stored ``content_hash`` equals the
record's hash is not rewritten, and a trace whose merged state equals its stored state is not
rewritten, so a redelivered batch leaves ``createdAt``/``updatedAt`` and every other returned value
unchanged.

How rows reach ClickHouse (the same values on every path,
``tests/storage/clickhouse/test_writer.py``):

- a client whose ``insert_formats`` hold ``Protobuf`` (embedded chdb): the records' serialised
  bytes (needed for the content hash anyway) go to ClickHouse, which decodes them into
  ``observations`` columns itself (``rows.observation_stream``); Python reads only the times and
  money values it validates;
- a batch whose times or money need Python's errors or rounding, or another client: rows built
  column by column (``rows.observation_columns``) for ``insert_columns`` (Arrow on chdb, native
  blocks on a server);
- batches of 64+ records overlap ClickHouse with Python, which chdb allows by running outside the
  GIL: the stored state is read in the writer's helper thread while records are serialised and
  checked, and traces are merged (and their rows encoded) in it during the observation insert
  (one long-lived thread per writer: a thread started per call cost ~5 % of the owner's Python).
  Nothing is sent before every row of the batch is validated, so a bad batch still writes nothing.

Reading the stored state of traces that miss the LRU: one query for all of them, less those a
``TraceKeyFilter`` (``storage.clickhouse.trace_filter``; only for the sole writer of ``traces``,
embedded ClickHouse) knows were never written. Those are new traces: no trace row and no stored
observations to read.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import compress
from typing import Any, Generic, TypeVar

from storage.clickhouse.client import PROTOBUF, Client, ProtobufInsert
from storage.clickhouse.keys import key_condition
from storage.clickhouse.prepared import PreparedInsert
from storage.clickhouse.rows import (
    OBSERVATION_COLUMNS,
    OBSERVATION_PROTO_MESSAGE,
    OBSERVATION_PROTO_STRUCTURE,
    check_time,
    observation_columns,
    observation_proto_schema,
    observation_records_plain,
    observation_select,
    observation_stream,
    record_bytes_hash,
)
from storage.clickhouse.trace_filter import TraceKeyFilter
from storage.clickhouse.traces import (
    TRACE_STATE_COLUMNS,
    TraceKey,
    TraceState,
    merge_trace,
    trace_columns,
    trace_state_from_row,
)
from storage.errors import PermanentError
from storage.records import MAX_TIME_US, MIN_TIME_US, ObservationRecord

__all__ = ["TRACE_CACHE_BYTES", "ClickHouseWriter", "EventClock", "state_bytes"]

log = logging.getLogger(__name__)

_ObservationKey = tuple[str, str, str]  # (project_id, trace_id, id)


TRACE_CACHE_BYTES = 64 * 1024 * 1024
"""Default byte bound of the trace LRU: about 20,000 traces of the benchmark's ~3 KB states."""

_STATE_OVERHEAD_BYTES = 600
"""A ``TraceState``'s own objects (slots, ints, small strings, the dict), roughly, in bytes."""


def state_bytes(state: TraceState) -> int:
    """A rough size of ``state`` in memory (bytes): its fixed overhead plus the length of its
    strings (characters; ASCII text takes one byte each in CPython)."""
    size = _STATE_OVERHEAD_BYTES + len(state.input or "") + len(state.output or "")
    size += len(state.name) + sum(len(tag) for tag in state.tags)
    return size + sum(len(k) + len(v) + 100 for k, v in state.metadata.items())


class EventClock:
    """Wall-clock Unix µs that never repeats or goes back within the process.

    Used for ``event_ts`` (the ReplacingMergeTree version), so a later merge always wins even
    when two writes fall in the same microsecond or the system clock steps back.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now_us(self) -> int:
        """Return a µs timestamp strictly greater than every earlier one."""
        with self._lock:
            self._last = max(time.time_ns() // 1000, self._last + 1)
            return self._last


@dataclass(frozen=True, slots=True)
class _Stored:
    content_hash: int
    created_at_us: int


class ClickHouseWriter:
    """Writes enriched ``ObservationRecord`` batches to ClickHouse.

    Args:
        client: the shared ClickHouse client.
        database: database holding the tables created by ``apply_migrations``.
        trace_cache_size: traces whose merged state is kept in an in-memory LRU (0 disables it);
            a hit saves the read of the current trace row. In scale-out mode call
            ``clear_cache()`` when Kafka partitions are reassigned, because another processor
            may have updated those traces meanwhile.
        trace_cache_bytes: the LRU's other bound, in bytes as estimated by ``state_bytes``
            (a state holds the trace's input, output and metadata, up to the claim-check
            threshold each, so a bound by count alone is no memory bound).
        known_traces: the keys ``traces`` may hold (``TraceKeyFilter``), ONLY where this
            writer is the one writer of the table (embedded ClickHouse): an LRU miss it
            knows was never written is a new trace and is not read. None: every miss is read.
    """

    def __init__(
        self,
        client: Client,
        database: str = "otelfuse",
        trace_cache_size: int = 100_000,
        trace_cache_bytes: int = TRACE_CACHE_BYTES,
        known_traces: TraceKeyFilter | None = None,
    ) -> None:
        self._client = client
        self._known = known_traces
        self._db = database
        self._cache: OrderedDict[TraceKey, tuple[TraceState, int]] = OrderedDict()
        """Trace states by key with their ``state_bytes``, least recently used first."""
        self._cache_size = max(0, trace_cache_size)
        self._cache_max_bytes = max(0, trace_cache_bytes)
        self._cache_bytes = 0
        self._clock = EventClock()
        self._lock = threading.Lock()
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otelfuse-writer")
        """Runs the ``_Call``s of a batch (one at a time: each is awaited before the next)."""

    def clear_cache(self) -> None:
        """Forget every cached trace state; the next batch re-reads traces from ClickHouse."""
        with self._lock:
            self._cache.clear()
            self._cache_bytes = 0

    def deleting(
        self, delete: Callable[[str, list[str]], None]
    ) -> Callable[[str, list[str]], None]:
        """``delete`` (``(project_id, trace_ids)``: removes those traces from ClickHouse,
        ``storage.query.deletion.delete_traces``) run while no batch is written, then the
        traces' merged states forgotten.

        Langfuse merges a later event of a deleted trace onto what ClickHouse holds, which is
        nothing after the deletion (``IngestionService`` in
        ``worker/src/services/IngestionService/index.ts`` reads the stored trace before
        merging), so the trace comes back with the new event's fields only. Without
        this, the LRU would merge the deleted input, user and tags back into it. Holding the
        write lock keeps a batch that read a state before the deletion from writing it after.
        Only this writer's cache is cleared: scale-out processors learn nothing of a deletion
        made through the query role (docs/architecture.md "Known limits").

        Raises:
            whatever ``delete`` raises; the cached states are then kept (nothing was deleted
            for sure, and a retry of the deletion forgets them).
        """

        def delete_and_forget(project_id: str, trace_ids: list[str]) -> None:
            with self._lock:
                delete(project_id, trace_ids)
                for trace_id in trace_ids:
                    cached = self._cache.pop((project_id, trace_id), None)
                    if cached is not None:
                        self._cache_bytes -= cached[1]

        return delete_and_forget

    def cached_trace_bytes(self) -> int:
        """Bytes (``state_bytes`` estimates) the trace LRU holds now."""
        return self._cache_bytes

    def write_observations(self, records: Sequence[ObservationRecord]) -> None:
        """Insert one ``observations`` row per record and upsert the merged ``traces`` rows.

        Calls are serialised (trace merging is read-modify-write). Within a batch, the last of
        several records with the same (project_id, trace_id, id) wins.

        Raises:
            PermanentError: a record lacks an id, has a time outside 1973..2286 or a money value
                that is not a decimal, or ClickHouse rejected the rows as invalid.
            RetryableError: ClickHouse failed transiently; nothing was cached, retry the batch.
        """
        if not records:
            return
        with self._lock:
            self._write(records)

    def write_traces(self, records: Sequence[ObservationRecord]) -> None:
        """Upsert the traces of trace-only records (``record.trace_only``: trace-create events,
        ``processors.merge``) without observation rows: the records are folded into the
        current trace states (LRU, then ONE query for the misses) with ``merge_trace``, and the
        changed ``traces`` rows are inserted. Serialised with ``write_observations``, sharing
        its trace cache.

        Raises:
            PermanentError: a record lacks its project_id or trace_id, or a merged time is
                outside 1973..2286.
            RetryableError: ClickHouse failed transiently; nothing was cached, retry the batch.
        """
        groups: dict[TraceKey, list[ObservationRecord]] = {}
        for record in records:
            if not (record.project_id and record.trace_id):
                raise PermanentError(
                    f"trace record without project_id or trace_id (trace_id={record.trace_id!r})"
                )
            groups.setdefault((record.project_id, record.trace_id), []).append(record)
        if not groups:
            return
        with self._lock:
            states = self._trace_states(list(groups))
            merged, traces = _merge_traces(groups, states, self._clock.now_us())
            self._insert("traces", traces)
            self._remember(merged)

    def _write(self, records: Sequence[ObservationRecord]) -> None:
        groups: dict[TraceKey, list[ObservationRecord]] = {}
        latest: dict[_ObservationKey, ObservationRecord] = {}
        for record in records:  # (each field read once: protobuf reads are not free)
            project_id, trace_id, record_id = record.project_id, record.trace_id, record.id
            if not (project_id and trace_id and record_id):
                raise PermanentError(
                    "observation record without project_id, trace_id or id "
                    f"(id={record_id!r}, trace_id={trace_id!r})"
                )
            key = (project_id, trace_id)
            group = groups.get(key)
            if group is None:
                groups[key] = [record]
            else:
                group.append(record)
            latest[(project_id, trace_id, record_id)] = record

        # The stored state (trace rows, hashes of stored observations) is read while this thread
        # serialises and hashes the records and checks or builds their rows: chdb runs queries
        # outside the GIL, so on two cores the reads cost no wall time. Errors keep their old
        # precedence: read errors, then trace rows, then observation rows.
        client = self._client
        reader = _Call(
            partial(self._read_state, groups),
            self._helper if len(latest) >= _BACKGROUND_READ_MIN else None,
        )
        try:
            pending = list(latest.values())
            serialized = [r.SerializeToString(deterministic=True) for r in pending]
            hashes = [record_bytes_hash(data) for data in serialized]  # = content_hash(record)
            observations: dict[str, list[Any]] | None = None
            invalid: PermanentError | None = None
            # Embedded ClickHouse decodes the serialised records itself (the fast path) when
            # their times and money need no Python-side rounding or error; otherwise, and on
            # other clients, the rows are built here, column by column.
            decoded = PROTOBUF in client.insert_formats and observation_records_plain(pending)
            if not decoded:
                provisional = time.time_ns() // 1000  # replaced by `now` below, validated then
                try:
                    observations = observation_columns(
                        pending,
                        record_hashes=hashes,
                        created_at_us=[provisional] * len(pending),
                        updated_at_us=provisional,
                        event_ts_us=provisional,
                    )
                except PermanentError as exc:
                    invalid = exc
        finally:
            states, stored = reader.result()

        now = self._clock.now_us()
        if decoded and _states_in_range(states.values(), now):
            # Embedded fast path. Merged trace rows can only hold times of valid records and
            # of stored states checked just now, so building them cannot fail: the traces are
            # merged in a helper thread while this one waits for the observation insert
            # (ClickHouse decoding and writing, outside the GIL).
            created, keep = _created_at(latest, hashes, stored, now)
            insert = self._stream_insert(client, serialized, hashes, created, keep, now)
            try:
                # The helper starts merging once this thread hands the insert to ClickHouse
                # (before that, both would compete for the GIL). It also encodes the trace rows.
                background = len(created) >= _BACKGROUND_INSERT_MIN
                handed_over = threading.Event()
                if not background:
                    handed_over.set()  # merged right here, before the insert
                merging = _Call(
                    partial(self._merge_and_prepare, client, groups, states, now, handed_over),
                    self._helper if background else None,
                )
                try:
                    insert.run(handed_over.set)
                except BaseException:
                    handed_over.set()
                    with contextlib.suppress(Exception):  # the insert's error is the one to raise
                        _, unused = merging.result()
                        if unused is not None:
                            unused.discard()  # its data file
                    raise
                handed_over.set()
                merged, trace_insert = merging.result()
            finally:
                insert.discard()
            if trace_insert is not None:
                trace_insert.run()
            self._remember(merged)
            return

        # Trace rows first: building them validates their times before anything is written.
        merged, traces = _merge_traces(groups, states, now)
        if invalid is not None:
            raise invalid
        # Observation rows: every record except those stored unchanged (same content hash),
        # which keep their row; a changed one keeps its first created_at.
        created, keep = _created_at(latest, hashes, stored, now)
        if decoded:  # (a stored trace state had a time out of range)
            self._stream_insert(client, serialized, hashes, created, keep, now).run()
        else:
            assert observations is not None
            count = len(pending)
            if keep is not None:
                observations = {name: list(compress(v, keep)) for name, v in observations.items()}
                count = len(created)
            observations["created_at"] = created
            observations["updated_at"] = observations["event_ts"] = [now] * count
            self._insert("observations", observations)
        self._insert("traces", traces)
        self._remember(merged)

    def _merge_and_prepare(
        self,
        client: Client,
        groups: dict[TraceKey, list[ObservationRecord]],
        states: dict[TraceKey, TraceState],
        now: int,
        start: threading.Event,
    ) -> tuple[dict[TraceKey, TraceState], PreparedInsert | None]:
        """``_merge_traces`` (once ``start`` is set) and the prepared ``traces`` insert (None
        when no trace changed)."""
        start.wait()
        merged, traces = _merge_traces(groups, states, now)
        data = list(traces.values())
        if not data[0]:
            return merged, None
        return merged, client.prepare_columns(f"{self._db}.traces", tuple(traces), data)

    def _stream_insert(
        self,
        client: Client,
        serialized: list[bytes],
        hashes: list[int],
        created: list[int],
        keep: list[bool] | None,
        now: int,
    ) -> PreparedInsert:
        """The insert of the kept records (see ``_created_at``), prepared."""
        if keep is not None:
            serialized = list(compress(serialized, keep))
            hashes = list(compress(hashes, keep))
        return client.prepare_protobuf(
            ProtobufInsert(
                f"{self._db}.observations",
                OBSERVATION_COLUMNS,
                observation_select(now, now),
                structure=OBSERVATION_PROTO_STRUCTURE,
                schema=observation_proto_schema(),
                message=OBSERVATION_PROTO_MESSAGE,
                payload=observation_stream(serialized, hashes, created),
            )
        )

    def _insert(self, table: str, columns: dict[str, list[Any]]) -> None:
        """One ``insert_columns`` of ``columns`` (``{column: values}``; none when there are no
        rows)."""
        names = tuple(columns)
        data = list(columns.values())
        if not data or not data[0]:
            return
        self._client.insert_columns(f"{self._db}.{table}", names, data)

    def _read_state(
        self, groups: dict[TraceKey, list[ObservationRecord]]
    ) -> tuple[dict[TraceKey, TraceState], dict[_ObservationKey, _Stored]]:
        """The current state of the batch's traces and of its already-stored observations."""
        states = self._trace_states(list(groups))
        known = [r for key, recs in groups.items() if key in states for r in recs]
        stored = self._stored_observations(known) if known else {}
        return states, stored

    def _trace_states(self, keys: list[TraceKey]) -> dict[TraceKey, TraceState]:
        """Current state of each trace: LRU first, then ONE query for the misses that
        ``known_traces`` does not know as never written (it records them all as written: the
        caller writes every key next, and a key first seen in a miss is in it once cached)."""
        states: dict[TraceKey, TraceState] = {}
        missing: list[TraceKey] = []
        for key in keys:
            cached = self._cache.get(key)
            if cached is None:
                missing.append(key)
            else:
                self._cache.move_to_end(key)
                states[key] = cached[0]
        if missing and self._known is not None:
            missing = self._known.before_write(missing)
        if not missing:
            return states
        condition, params = key_condition(missing)  # as PREWHERE: see storage.clickhouse.keys
        rows = self._client.select(
            f"SELECT {TRACE_STATE_COLUMNS} FROM {self._db}.traces FINAL"
            f" PREWHERE {condition} WHERE is_deleted = 0",
            params,
        )
        for row in rows:
            state = trace_state_from_row(row)
            states[(state.project_id, state.id)] = state
        return states

    def _stored_observations(
        self, records: Sequence[ObservationRecord]
    ) -> dict[_ObservationKey, _Stored]:
        """Hash and first ``created_at`` of already-stored observations (ONE query).

        Reads without FINAL: ``min(created_at)`` over all versions is the first write, and
        ``argMax(..., event_ts)`` picks the newest version, like FINAL would.
        """
        bounds: dict[str, tuple[list[str], list[str], int, int]] = {}
        for r in records:
            start = check_time(r.start_time_us, f"observation {r.id} start_time_us")
            ids, trace_ids, lo, hi = bounds.get(r.project_id, ([], [], start, 0))
            ids.append(r.id)
            trace_ids.append(r.trace_id)
            bounds[r.project_id] = (ids, trace_ids, min(lo, start), max(hi, start))
        conditions: list[str] = []
        params: dict[str, object] = {}
        for n, (project_id, (ids, trace_ids, lo, hi)) in enumerate(bounds.items()):
            conditions.append(
                f"(project_id = {{p{n}:String}} AND trace_id IN {{t{n}:Array(String)}}"
                f" AND id IN {{i{n}:Array(String)}}"
                f" AND start_time BETWEEN fromUnixTimestamp64Micro({{lo{n}:Int64}})"
                f" AND fromUnixTimestamp64Micro({{hi{n}:Int64}}))"
            )
            params.update(
                {
                    f"p{n}": project_id,
                    f"t{n}": sorted(set(trace_ids)),
                    f"i{n}": sorted(set(ids)),
                    f"lo{n}": lo,
                    f"hi{n}": hi,
                }
            )
        rows = self._client.select(
            "SELECT project_id, trace_id, id,"
            " argMax(content_hash, event_ts) AS content_hash,"
            " argMax(is_deleted, event_ts) AS is_deleted,"
            " toUnixTimestamp64Micro(min(created_at)) AS created_at_us"
            f" FROM {self._db}.observations WHERE {' OR '.join(conditions)}"
            " GROUP BY project_id, trace_id, id",
            params,
        )
        return {
            (row["project_id"], row["trace_id"], row["id"]): _Stored(
                int(row["content_hash"]), int(row["created_at_us"])
            )
            for row in rows
            if not int(row["is_deleted"])
        }

    def _remember(self, merged: dict[TraceKey, TraceState]) -> None:
        if not (self._cache_size and self._cache_max_bytes):
            return
        cache = self._cache
        for key, state in merged.items():
            size = state_bytes(state)
            replaced = cache.pop(key, None)
            self._cache_bytes += size - (replaced[1] if replaced else 0)
            cache[key] = (state, size)
        while cache and (
            len(cache) > self._cache_size or self._cache_bytes > self._cache_max_bytes
        ):
            _, (_, size) = cache.popitem(last=False)
            self._cache_bytes -= size


_BACKGROUND_READ_MIN = 64
"""Batches with at least this many records read the stored state in a helper thread."""

_BACKGROUND_INSERT_MIN = 64
"""Fast-path batches with at least this many rows merge their traces in a helper thread."""

_T = TypeVar("_T")


class _Call(Generic[_T]):
    """``function()`` run now, or in ``helper``'s thread (the writer's long-lived helper);
    ``result`` waits for it and returns its value or raises its exception. Every ``_Call`` of a
    batch is awaited with ``result`` before the next is made, so one helper thread serves them
    all."""

    def __init__(self, function: Callable[[], _T], helper: ThreadPoolExecutor | None) -> None:
        self._future: Future[_T] | None = None
        self._value: _T | None = None
        self._error: BaseException | None = None
        if helper is not None:
            self._future = helper.submit(function)
            return
        try:
            self._value = function()
        except BaseException as exc:  # re-raised by result(), as from the helper thread
            self._error = exc

    def result(self) -> _T:
        """``function``'s value, once it returned; its exception if it raised."""
        if self._future is not None:
            return self._future.result()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set when no error was recorded


def _merge_traces(
    groups: dict[TraceKey, list[ObservationRecord]],
    states: dict[TraceKey, TraceState],
    now: int,
) -> tuple[dict[TraceKey, TraceState], dict[str, list[Any]]]:
    """Every trace's merged state, and the ``traces`` rows of those that changed.

    Raises:
        PermanentError: a merged time is out of range.
    """
    merged: dict[TraceKey, TraceState] = {}
    changed: list[TraceState] = []
    for key, recs in groups.items():
        old = states.get(key)
        new = merge_trace(old, key, recs, now_us=now)
        if old is not None and new == old:
            merged[key] = old
            continue
        merged[key] = new
        changed.append(new)
    return merged, trace_columns(changed, updated_at_us=now, event_ts_us=now)


def _created_at(
    latest: dict[_ObservationKey, ObservationRecord],
    hashes: list[int],
    stored: dict[_ObservationKey, _Stored],
    now: int,
) -> tuple[list[int], list[bool] | None]:
    """``created_at`` of each row to write, and which records to write (None: all): a record
    stored unchanged (same content hash) keeps its row; a changed one its first created_at.

    Raises:
        PermanentError: ``now`` or a stored created_at is out of range.
    """
    check_time(now, "created_at")
    count = len(hashes)
    created = [now] * count
    keep: list[bool] | None = None
    if stored:
        for index, (okey, digest) in enumerate(zip(latest, hashes, strict=True)):
            previous = stored.get(okey)
            if previous is None:
                continue
            if previous.content_hash == digest:
                keep = keep or [True] * count
                keep[index] = False  # redelivered unchanged
            else:
                created[index] = check_time(previous.created_at_us, "created_at")
    if keep is not None:
        created = list(compress(created, keep))
    return created, keep


def _states_in_range(states: Iterable[TraceState], now: int) -> bool:
    """Whether every time of ``states`` and ``now`` is in the supported range."""
    if not MIN_TIME_US <= now <= MAX_TIME_US:
        return False
    return all(
        MIN_TIME_US <= s.timestamp_us <= MAX_TIME_US
        and MIN_TIME_US <= s.created_at_us <= MAX_TIME_US
        and (s.end_time_us is None or MIN_TIME_US <= s.end_time_us <= MAX_TIME_US)
        for s in states
    )
