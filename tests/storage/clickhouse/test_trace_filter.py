"""The writer's filter of stored trace keys (``storage.clickhouse.trace_filter``) on real
embedded ClickHouse: new traces are not read, and every trace that exists (written before a
restart, evicted from the LRU, written while the filter loads) is still read and merged.

Each test uses a database of its own, so the filter's load sees only the test's traces."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.client import Client
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.trace_filter import TraceKeyFilter, trace_key_hash
from storage.clickhouse.writer import ClickHouseWriter
from storage.errors import RetryableError
from storage.query.deletion import delete_traces
from storage.query.repository import Repository
from tests.support.fakes import DelegatingClient
from tests.support.records import BASE_US, new_id, record

LOAD_TIMEOUT_S = 30.0


class Reads(DelegatingClient):
    """Counts the SELECTs the writer and the filter send: trace-state reads (with the trace ids
    they asked for), stored-observation reads, and the filter's load queries (its row count,
    then its pages). ``hold``: the load query of that number (1-based) waits for ``release``
    before it runs."""

    def __init__(self, client: Client, database: str, hold: int = 0) -> None:
        super().__init__(client)
        self.db = database
        self.trace_reads: list[set[str]] = []
        self.observation_reads = 0
        self.loads = 0
        self.hold = hold
        self.holding = threading.Event()
        self.release = threading.Event()

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        if f"FROM {self.db}.traces FINAL" in sql:
            asked = {i for v in (params or {}).values() if isinstance(v, list) for i in v}
            self.trace_reads.append(asked)
        elif f"FROM {self.db}.observations WHERE" in sql:
            self.observation_reads += 1
        elif "groupArray(h)" in sql or f"count() AS n FROM {self.db}.traces" in sql:
            self.loads += 1
            if self.loads == self.hold:
                self.holding.set()
                assert self.release.wait(LOAD_TIMEOUT_S)
        return super().select(sql, params)


@pytest.fixture
def db(client: ChdbClient) -> Iterator[str]:
    """A freshly migrated database of this test's own."""
    name = f"tf_{uuid.uuid4().hex[:12]}"
    apply_migrations(client, name)
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")


def loaded(client: Client, db: str, **kw: Any) -> TraceKeyFilter:
    known = TraceKeyFilter(client, db, **kw)
    known.start()
    assert known.wait_loaded(LOAD_TIMEOUT_S)
    return known


def stored_trace(client: ChdbClient, db: str, project_id: str, trace_id: str) -> dict[str, Any]:
    rows = client.select(
        "SELECT name, user_id, session_id, release, tags,"
        " toUnixTimestamp64Micro(timestamp) AS timestamp_us,"
        " toUnixTimestamp64Micro(end_time) AS end_time_us"
        f" FROM {db}.traces FINAL WHERE project_id = {{p:String}} AND id = {{id:String}}",
        {"p": project_id, "id": trace_id},
    )
    assert len(rows) == 1, rows
    return rows[0]


def observation_count(client: ChdbClient, db: str, project_id: str) -> int:
    rows = client.select(
        f"SELECT count() AS n FROM {db}.observations FINAL WHERE project_id = {{p:String}}",
        {"p": project_id},
    )
    return int(rows[0]["n"])


def test_new_traces_are_not_read(client: ChdbClient, db: str, project_id: str) -> None:
    reads = Reads(client, db)
    writer = ClickHouseWriter(reads, database=db, known_traces=loaded(reads, db))
    traces = [new_id(32) for _ in range(10)]
    batch = [  # 100 records: the stored state is read in a helper thread
        record(project_id, t, start_us=BASE_US + n, trace={"user_id": f"u-{t}"})
        for n in range(10)
        for t in traces
    ]
    writer.write_observations(batch)
    writer.write_observations([record(project_id, new_id(32))])  # the non-threaded path too
    assert (reads.trace_reads, reads.observation_reads) == ([], 0)
    assert observation_count(client, db, project_id) == 101
    for t in traces:
        row = stored_trace(client, db, project_id, t)
        assert (row["user_id"], row["timestamp_us"]) == (f"u-{t}", BASE_US)

    # the same traces again, from a writer without their states cached: read and merged
    cold = ClickHouseWriter(reads, database=db, trace_cache_size=0, known_traces=loaded(reads, db))
    cold.write_observations(
        [record(project_id, t, start_us=BASE_US - 7, trace={"session_id": "s"}) for t in traces]
    )
    assert reads.trace_reads == [set(traces)]
    assert reads.observation_reads == 1
    for t in traces:
        row = stored_trace(client, db, project_id, t)
        assert (row["user_id"], row["session_id"], row["timestamp_us"]) == (
            f"u-{t}",
            "s",
            BASE_US - 7,
        )


def test_traces_written_before_a_restart_are_read(
    client: ChdbClient, db: str, project_id: str
) -> None:
    old, new = new_id(32), new_id(32)
    span = record(project_id, old, trace={"name": "agent", "tags": ["a"]}, release="r1")
    ClickHouseWriter(client, database=db).write_observations([span])
    reads = Reads(client, db)
    restarted = ClickHouseWriter(reads, database=db, known_traces=loaded(reads, db))
    restarted.write_observations(
        [
            span,  # redelivered unchanged: its stored row is kept
            record(project_id, old, trace={"user_id": "u", "tags": ["b"]}),
            record(project_id, new, trace={"name": "other"}),
        ]
    )
    assert reads.trace_reads == [{old}]  # the new trace was not asked for
    assert reads.observation_reads == 1
    row = stored_trace(client, db, project_id, old)
    assert (row["name"], row["user_id"], row["release"], row["tags"]) == (
        "agent",
        "u",
        "r1",
        ["a", "b"],
    )
    assert stored_trace(client, db, project_id, new)["name"] == "other"
    assert observation_count(client, db, project_id) == 3


def test_traces_evicted_from_the_cache_are_read(
    client: ChdbClient, db: str, project_id: str
) -> None:
    reads = Reads(client, db)
    writer = ClickHouseWriter(
        reads, database=db, trace_cache_size=1, known_traces=loaded(reads, db)
    )
    first, second = new_id(32), new_id(32)
    writer.write_observations([record(project_id, first, trace={"user_id": "u1"})])
    writer.write_observations([record(project_id, second)])  # evicts the first from the LRU
    writer.write_observations([record(project_id, second, release="x")])  # cached
    assert reads.trace_reads == []
    writer.write_observations([record(project_id, first, trace={"session_id": "s1"})])
    assert reads.trace_reads == [{first}]
    row = stored_trace(client, db, project_id, first)
    assert (row["user_id"], row["session_id"]) == ("u1", "s1")


def test_traces_written_while_the_filter_loads_are_read(
    client: ChdbClient, db: str, project_id: str
) -> None:
    """Page by page, one key a page: keys written during the load behind the loader's
    position (which it never sees) and ahead of it (which it sees) are both known after."""
    stored = [f"{project_id}-b", f"{project_id}-d"]
    ClickHouseWriter(client, database=db).write_observations(
        [record(project_id, t, trace={"user_id": "stored"}) for t in stored]
    )
    reads = Reads(client, db, hold=3)  # count, page 1 (-b), then page 2 waits
    known = TraceKeyFilter(reads, db, page_rows=1)
    writer = ClickHouseWriter(reads, database=db, trace_cache_size=0, known_traces=known)
    known.start()
    assert reads.holding.wait(LOAD_TIMEOUT_S)
    behind, ahead = f"{project_id}-a", f"{project_id}-c"
    writer.write_observations(
        [record(project_id, t, trace={"user_id": "during"}) for t in (behind, ahead, stored[0])]
    )
    assert not known.ready
    assert reads.trace_reads == [{behind, ahead, stored[0]}]  # read as without a filter
    reads.release.set()
    assert known.wait_loaded(LOAD_TIMEOUT_S)
    assert reads.loads == 5  # count, -b, -c (-a is behind), -d, an empty page

    reads.trace_reads.clear()
    writer.write_observations(
        [record(project_id, t, trace={"session_id": "after"}) for t in (behind, ahead, *stored)]
    )
    assert reads.trace_reads == [{behind, ahead, *stored}]
    users = {behind: "during", ahead: "during", stored[0]: "during", stored[1]: "stored"}
    for t, user in users.items():
        row = stored_trace(client, db, project_id, t)
        assert (row["user_id"], row["session_id"]) == (user, "after")


class HeldTraceInsert(Reads):
    """``Reads`` whose inserts into ``traces`` wait for ``insert`` (``inserting`` is set
    when one waits)."""

    def __init__(self, client: Client, database: str) -> None:
        super().__init__(client, database)
        self.inserting = threading.Event()
        self.insert = threading.Event()

    def insert_columns(self, table: str, columns: Any, data: Any) -> None:
        if table.endswith(".traces"):
            self.inserting.set()
            assert self.insert.wait(LOAD_TIMEOUT_S)
        super().insert_columns(table, columns, data)


def test_traces_whose_insert_lands_after_the_load_are_read(
    client: ChdbClient, db: str, project_id: str
) -> None:
    """A write that starts before the filter is sized and inserts its traces after the whole
    load: the loader cannot see them, the writer recorded them."""
    held = HeldTraceInsert(client, db)
    known = TraceKeyFilter(held, db)
    writer = ClickHouseWriter(held, database=db, trace_cache_size=0, known_traces=known)
    traces = [new_id(32), new_id(32)]
    batch = [record(project_id, t, trace={"user_id": "first"}) for t in traces]
    thread = threading.Thread(target=writer.write_observations, args=(batch,))
    thread.start()
    assert held.inserting.wait(LOAD_TIMEOUT_S)
    known.start()
    assert known.wait_loaded(LOAD_TIMEOUT_S)
    held.insert.set()
    thread.join(LOAD_TIMEOUT_S)
    assert stored_trace(client, db, project_id, traces[0])["user_id"] == "first"

    held.trace_reads.clear()
    writer.write_observations([record(project_id, t, trace={"session_id": "s"}) for t in traces])
    assert held.trace_reads == [set(traces)]
    for t in traces:
        row = stored_trace(client, db, project_id, t)
        assert (row["user_id"], row["session_id"]) == ("first", "s")


class FailingTraceInsert(Reads):
    """``Reads`` whose first insert into ``traces`` fails transiently."""

    def __init__(self, client: Client, database: str) -> None:
        super().__init__(client, database)
        self.failed = False

    def insert_columns(self, table: str, columns: Any, data: Any) -> None:
        if table.endswith(".traces") and not self.failed:
            self.failed = True
            raise RetryableError("injected: traces insert failed")
        super().insert_columns(table, columns, data)


def test_a_failed_insert_leaves_a_harmless_maybe(
    client: ChdbClient, db: str, project_id: str
) -> None:
    flaky = FailingTraceInsert(client, db)
    writer = ClickHouseWriter(flaky, database=db, known_traces=loaded(flaky, db))
    trace_id = new_id(32)
    batch = [record(project_id, trace_id, trace={"user_id": "u"})]
    with pytest.raises(RetryableError):
        writer.write_observations(batch)
    writer.write_observations(batch)  # the retry: the key is a "maybe", so it is read (none)
    assert flaky.trace_reads == [{trace_id}]
    assert stored_trace(client, db, project_id, trace_id)["user_id"] == "u"
    assert observation_count(client, db, project_id) == 1


def test_over_its_memory_bound_it_reads_every_trace(
    client: ChdbClient, db: str, project_id: str
) -> None:
    ClickHouseWriter(client, database=db).write_observations([record(project_id, new_id(32))])
    reads = Reads(client, db)
    known = TraceKeyFilter(reads, db, max_bytes=1)  # not even one key fits
    known.start()
    assert not known.wait_loaded(LOAD_TIMEOUT_S)
    assert known.nbytes == 0
    writer = ClickHouseWriter(reads, database=db, known_traces=known)
    trace_id = new_id(32)
    writer.write_observations([record(project_id, trace_id)])
    assert reads.trace_reads == [{trace_id}]


def test_growing_past_its_size_keeps_every_key_and_its_bounds(client: ChdbClient, db: str) -> None:
    """Stages chained past the first (sized for 100 keys): no key is lost, the share of
    never-written keys answered "maybe" stays under the rate, and a stage that would pass the
    memory bound switches the filter off."""
    rate = 0.01
    known = loaded(client, db, false_positive_rate=rate, min_capacity=100)
    first_stage = known.nbytes
    written = [("p", f"t{n}") for n in range(5_000)]
    maybe = 0
    for n in range(0, len(written), 500):  # none was written before: "maybe" is a false one
        maybe += len(known.before_write(written[n : n + 500]))
    assert maybe < rate * len(written), maybe
    assert known.before_write(written) == written
    assert known.nbytes > 50 * first_stage  # stages of 100, 200, ..., 6,400 keys
    others = [("p", f"never-{n}") for n in range(50_000)]
    maybe = len(known.before_write(others))
    assert maybe < rate * len(others), maybe

    bounded = loaded(client, db, false_positive_rate=rate, min_capacity=100, max_bytes=1_000)
    assert bounded.ready
    # stages of 100 and 200 keys (450 bytes), then not 400 keys (695 bytes) but the ~300 that
    # fit in the 550 bytes left; then not even a quarter of 600 fits
    bounded.before_write(written[:600])
    assert bounded.ready
    assert 990 < bounded.nbytes <= 1_000
    assert bounded.before_write(written[:600]) == written[:600]
    bounded.before_write(written[600:700])
    assert not bounded.ready
    assert bounded.nbytes == 0
    assert bounded.before_write(others[:3]) == others[:3]


def test_key_hash_matches_clickhouse(client: ChdbClient) -> None:
    for key in [("p", "t"), ("", ""), ("ünï 😀", "nul\0x"), ("p" * 300, "'; --")]:
        rows = client.select(
            "SELECT cityHash64(concat({p:String}, '\\0', {i:String})) AS h",
            {"p": key[0], "i": key[1]},
        )
        assert int(rows[0]["h"]) == trace_key_hash(key)


def test_trace_only_records_use_the_filter(client: ChdbClient, db: str, project_id: str) -> None:
    """``write_traces`` (trace-create events): a stored trace is read and merged, a new one
    is not read."""
    old, new = new_id(32), new_id(32)
    ClickHouseWriter(client, database=db).write_observations(
        [record(project_id, old, trace={"user_id": "u"})]
    )
    reads = Reads(client, db)
    writer = ClickHouseWriter(reads, database=db, known_traces=loaded(reads, db))
    writer.write_traces(
        [record(project_id, t, trace={"name": f"named-{t}"}, trace_only=True) for t in (old, new)]
    )
    assert reads.trace_reads == [{old}]
    row = stored_trace(client, db, project_id, old)
    assert (row["name"], row["user_id"]) == (f"named-{old}", "u")
    assert stored_trace(client, db, project_id, new)["name"] == f"named-{new}"


def test_a_deleted_trace_written_again_starts_anew(
    client: ChdbClient, db: str, project_id: str
) -> None:
    """Deletions only remove keys: the filter still says "maybe", the read finds nothing, and
    the trace starts anew (as without a filter)."""
    reads = Reads(client, db)
    writer = ClickHouseWriter(
        reads, database=db, trace_cache_size=0, known_traces=loaded(reads, db)
    )
    trace_id = new_id(32)
    writer.write_observations([record(project_id, trace_id, trace={"user_id": "gone"})])
    delete_traces(Repository(client, database=db), project_id, [trace_id])
    writer.write_observations([record(project_id, trace_id, trace={"session_id": "s"})])
    assert reads.trace_reads == [{trace_id}]
    row = stored_trace(client, db, project_id, trace_id)
    assert (row["user_id"], row["session_id"]) == (None, "s")
