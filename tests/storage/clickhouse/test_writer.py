"""ClickHouseWriter against real chdb: round trip, trace merge, redelivery, failure handling."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.client import ARROW_STREAM, JSON_COMPACT_EACH_ROW, NATIVE, ProtobufInsert
from storage.clickhouse.rows import content_hash
from storage.clickhouse.writer import ClickHouseWriter, EventClock
from storage.errors import PermanentError, RetryableError
from storage.query import observations as obs
from storage.query import traces as tr
from storage.query.params import PageRequest
from storage.query.repository import Repository
from tests.support.chdb import DATABASE
from tests.support.fakes import DelegatingClient
from tests.support.records import BASE_US, generation, new_id, record

DB = DATABASE


def observation(client: ChdbClient, project_id: str, obs_id: str) -> dict[str, Any]:
    rows = client.select(
        f"SELECT * EXCEPT (start_time, end_time, completion_start_time, created_at, updated_at,"
        f" event_ts, provided_cost_details, cost_details, total_cost),"
        " toUnixTimestamp64Micro(start_time) AS start_time_us,"
        " toUnixTimestamp64Micro(end_time) AS end_time_us,"
        " toUnixTimestamp64Micro(completion_start_time) AS completion_start_time_us,"
        " mapApply((k, v) -> (k, toString(v)), provided_cost_details) AS provided_cost_details,"
        " mapApply((k, v) -> (k, toString(v)), cost_details) AS cost_details,"
        " toString(total_cost) AS total_cost"
        f" FROM {DB}.observations FINAL WHERE project_id = {{p:String}} AND id = {{id:String}}",
        {"p": project_id, "id": obs_id},
    )
    assert len(rows) == 1
    return rows[0]


def trace(client: ChdbClient, project_id: str, trace_id: str) -> dict[str, Any]:
    rows = client.select(
        "SELECT * EXCEPT (timestamp, end_time, created_at, updated_at, event_ts),"
        " toUnixTimestamp64Micro(timestamp) AS timestamp_us,"
        " toUnixTimestamp64Micro(end_time) AS end_time_us,"
        " toUnixTimestamp64Micro(created_at) AS created_at_us,"
        " toUnixTimestamp64Micro(updated_at) AS updated_at_us"
        f" FROM {DB}.traces FINAL WHERE project_id = {{p:String}} AND id = {{id:String}}",
        {"p": project_id, "id": trace_id},
    )
    assert len(rows) == 1, rows
    return rows[0]


def raw_count(client: ChdbClient, table: str, project_id: str) -> int:
    rows = client.select(
        f"SELECT count() AS n FROM {DB}.{table} WHERE project_id = {{p:String}}", {"p": project_id}
    )
    return int(rows[0]["n"])


def test_round_trip_keeps_every_field(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    trace_id = new_id(32)
    rec = generation(
        project_id,
        trace_id,
        parent_observation_id="a1b2c3d4e5f60718",
        start_us=BASE_US + 1,
        end_us=BASE_US + 987_654,
        provided_cost_details={"input": "0.1"},
        trace={"user_id": "user-1", "session_id": "sess-1", "name": "report", "tags": ["x", "y"]},
    )
    writer.write_observations([rec])

    row = observation(client, project_id, rec.id)
    assert row == {
        "id": rec.id,
        "trace_id": trace_id,
        "project_id": project_id,
        "type": "GENERATION",
        "parent_observation_id": "a1b2c3d4e5f60718",
        "start_time_us": BASE_US + 1,
        "end_time_us": BASE_US + 987_654,
        "completion_start_time_us": BASE_US + 120_007,
        "name": "chat gpt-4o",
        "metadata": {"customer": '"acme"', "attempt": "2", "flags": '{"beta":true}'},
        "level": "WARNING",
        "status_message": "rate limited once",
        "version": "v7",
        "release": "2025.11.1",
        "input": rec.input,
        "output": rec.output,
        "provided_model_name": "gpt-4o",
        "internal_model_id": "gpt-4o",
        "model_parameters": '{"temperature":0.2,"max_tokens":512}',
        "provided_usage_details": {"input": 1200, "output": 340},
        "usage_details": {"input": 1200, "output": 340, "input_cached_tokens": 100, "total": 1640},
        "provided_cost_details": {"input": "0.1"},
        "cost_details": {
            "input": "0.003",
            "input_cached_tokens": "0.000125",
            "output": "0.0034",
            "total": "0.006525000001",
        },
        "total_cost": "0.006525000001",
        "prompt_id": "prompt-42",
        "prompt_name": "summary",
        "prompt_version": 3,
        "usage_pricing_tier_id": "tier-standard",
        "usage_pricing_tier_name": "Standard",
        "usage_estimated": False,
        "environment": "production",
        "is_root": False,
        "is_app_root": False,
        "trace_name": "report",
        "user_id": "user-1",
        "session_id": "sess-1",
        "tags": ["x", "y"],
        "scope_name": "opentelemetry.instrumentation.openai_v2",
        "scope_version": "2.4b0",
        "service_name": "reporter",
        "service_version": "1.4.2",
        "telemetry_sdk_language": "python",
        "telemetry_sdk_name": "opentelemetry",
        "telemetry_sdk_version": "1.38.0",
        "ingestion_sdk_name": "langfuse-python",
        "ingestion_sdk_version": "5.0.4",
        "content_hash": row["content_hash"],
        "is_deleted": 0,
    }
    assert row["content_hash"] > 0

    t = trace(client, project_id, trace_id)
    assert t["timestamp_us"] == BASE_US + 1
    assert t["end_time_us"] == BASE_US + 987_654
    assert (t["name"], t["user_id"], t["session_id"], t["tags"]) == (
        "report",
        "user-1",
        "sess-1",
        ["x", "y"],
    )
    assert (t["release"], t["version"], t["environment"]) == ("2025.11.1", "v7", "production")


def test_optional_fields_absent_stay_null(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    rec = record(project_id, new_id(32), end_us=None)
    writer.write_observations([rec])
    row = observation(client, project_id, rec.id)
    for column in (
        "parent_observation_id",
        "end_time_us",
        "completion_start_time_us",
        "status_message",
        "input",
        "output",
        "total_cost",
        "prompt_version",
        "user_id",
        "trace_name",
    ):
        assert row[column] is None, column
    assert row["usage_details"] == {} and row["cost_details"] == {}
    t = trace(client, project_id, rec.trace_id)
    assert t["end_time_us"] == BASE_US  # no end: the trace ends at the latest start


def test_trace_merge_across_batches(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    tid = new_id(32)
    root_id = new_id()
    # batch 1: two children arrive first; user only on one, session on the other
    child_a = record(
        project_id,
        tid,
        parent_observation_id=root_id,
        name="retrieve",
        start_us=BASE_US + 100,
        end_us=BASE_US + 400,
        environment="staging",
        trace={"user_id": "u-1", "tags": ["rag", "beta"]},
    )
    child_b = record(
        project_id,
        tid,
        parent_observation_id=root_id,
        name="llm",
        start_us=BASE_US + 500,
        end_us=BASE_US + 900,
        release="r1",
        trace={"session_id": "s-1", "tags": ["beta"], "metadata": {"team": '"search"'}},
    )
    writer.write_observations([child_a, child_b])
    first = trace(client, project_id, tid)
    assert first["name"] == ""  # no root yet, no explicit name
    assert (first["timestamp_us"], first["end_time_us"]) == (BASE_US + 100, BASE_US + 900)

    # batch 2: the root span, last, with its own name, I/O and metadata
    root = record(
        project_id,
        tid,
        root_id,
        name="answer-question",
        start_us=BASE_US,
        end_us=BASE_US + 1_000,
        input='{"q":"why?"}',
        output='"because"',
        metadata={"team": '"ignored"', "route": '"/ask"'},
        environment="production",
        trace={"is_root": True, "tags": ["prod"]},
    )
    writer.write_observations([root])
    merged = trace(client, project_id, tid)
    assert merged["timestamp_us"] == BASE_US
    assert merged["end_time_us"] == BASE_US + 1_000
    assert merged["name"] == "answer-question"
    assert merged["user_id"] == "u-1"
    assert merged["session_id"] == "s-1"
    assert merged["release"] == "r1"
    assert merged["environment"] == "staging"  # first seen
    assert merged["tags"] == ["beta", "prod", "rag"]
    assert merged["metadata"] == {"team": '"search"', "route": '"/ask"'}
    assert (merged["input"], merged["output"]) == ('{"q":"why?"}', '"because"')
    assert merged["created_at_us"] == first["created_at_us"]
    assert merged["updated_at_us"] > first["updated_at_us"]

    # batch 3: an explicit trace name and trace output overwrite; a later root name does not
    named = record(
        project_id,
        tid,
        start_us=BASE_US + 2_000,
        end_us=BASE_US + 3_000,
        trace={"name": "qa-pipeline", "output": '"final"', "user_id": "u-2", "public": True},
    )
    late_root = record(project_id, tid, name="other-root", input='"late"', trace={"is_root": True})
    writer.write_observations([named, late_root])
    final = trace(client, project_id, tid)
    assert final["name"] == "qa-pipeline"
    assert final["output"] == '"final"'
    assert final["input"] == '{"q":"why?"}'
    assert final["user_id"] == "u-2"
    assert final["public"] is True
    assert final["end_time_us"] == BASE_US + 250_001  # late_root's default end
    assert raw_count(client, "observations", project_id) == 5


def test_cold_writer_reads_the_stored_trace(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    tid = new_id(32)
    writer.write_observations([record(project_id, tid, trace={"tags": ["a"], "user_id": "u"})])
    cold = ClickHouseWriter(client, database=DB, trace_cache_size=0)
    cold.write_observations([record(project_id, tid, start_us=BASE_US - 5, trace={"tags": ["b"]})])
    merged = trace(client, project_id, tid)
    assert merged["tags"] == ["a", "b"]
    assert merged["user_id"] == "u"
    assert merged["timestamp_us"] == BASE_US - 5


def test_trace_records_share_the_trace_cache_with_observations(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    """``write_traces`` (trace-create events) writes no observation row and updates the cached
    state, so a later span batch of the same trace neither re-reads nor overwrites it."""
    tid = new_id(32)
    writer.write_observations([record(project_id, tid, trace={"tags": ["a"]})])
    trace_create = record(
        project_id, tid, tid, end_us=None, trace={"name": "created", "user_id": "u"}
    )
    trace_create.trace_only = True
    writer.write_traces([trace_create])
    assert raw_count(client, "observations", project_id) == 1
    assert trace(client, project_id, tid)["name"] == "created"
    client_reads = client.select  # a second read of this trace would go through here
    reads: list[str] = []

    def counting_select(sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        reads.append(sql)
        return client_reads(sql, params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(client, "select", counting_select)
        writer.write_observations([record(project_id, tid, trace={"tags": ["b"]})])
    assert reads and not [q for q in reads if f"{DB}.traces" in q]  # the trace came from the cache
    merged = trace(client, project_id, tid)
    assert (merged["name"], merged["user_id"], merged["tags"]) == ("created", "u", ["a", "b"])
    with pytest.raises(PermanentError, match="without project_id or trace_id"):
        writer.write_traces([record(project_id, "", "x")])


def _api_snapshot(client: ChdbClient, project_id: str, trace_ids: Sequence[str]) -> Any:
    repo = Repository(client, DB)
    page = PageRequest(1, 100)
    traces = tr.list_traces(repo, project_id, tr.TraceFilter(), page)
    observations = obs.list_observations(repo, project_id, obs.ObservationFilter(), page)
    details = [tr.get_trace(repo, project_id, t) for t in trace_ids]
    return (
        [tr.trace_list_item_json(r) for r in traces.rows],
        traces.total,
        [obs.observation_json(r) for r in observations.rows],
        observations.total,
        [tr.trace_detail_json(d) for d in details if d is not None],
    )


def test_redelivery_changes_nothing(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    t1, t2 = new_id(32), new_id(32)
    root1 = new_id()
    batch1 = [
        generation(project_id, t1, parent_observation_id=root1, trace={"user_id": "u"}),
        record(project_id, t2, trace={"is_root": True, "tags": ["x"]}),
    ]
    batch2 = [
        record(project_id, t1, root1, start_us=BASE_US - 10, trace={"is_root": True}),
        record(project_id, t2, name="late", trace={"metadata": {"k": "1"}}),
    ]
    writer.write_observations(batch1)
    writer.write_observations(batch2)
    before = _api_snapshot(client, project_id, [t1, t2])
    rows_before = (
        raw_count(client, "observations", project_id),
        raw_count(client, "traces", project_id),
    )

    writer.write_observations(batch2)  # redelivery of the last batch, warm cache
    cold = ClickHouseWriter(client, database=DB)
    cold.write_observations(batch1 + batch2)  # redelivery of everything, cold cache

    assert _api_snapshot(client, project_id, [t1, t2]) == before
    # nothing was rewritten at all: no new row versions
    assert (
        raw_count(client, "observations", project_id),
        raw_count(client, "traces", project_id),
    ) == rows_before
    assert before[1] == 2 and before[3] == 4


def test_changed_record_is_rewritten_keeping_created_at(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    rec = generation(project_id, new_id(32))
    writer.write_observations([rec])
    first = observation(client, project_id, rec.id)
    created = client.select(
        f"SELECT toUnixTimestamp64Micro(created_at) AS c, toUnixTimestamp64Micro(updated_at) AS u"
        f" FROM {DB}.observations FINAL WHERE project_id = {{p:String}}",
        {"p": project_id},
    )[0]
    changed = generation(project_id, rec.trace_id, rec.id, output='"new answer"')
    ClickHouseWriter(client, database=DB).write_observations([changed])
    second = observation(client, project_id, rec.id)
    assert second["output"] == '"new answer"'
    assert second["content_hash"] != first["content_hash"]
    again = client.select(
        f"SELECT toUnixTimestamp64Micro(created_at) AS c, toUnixTimestamp64Micro(updated_at) AS u"
        f" FROM {DB}.observations FINAL WHERE project_id = {{p:String}}",
        {"p": project_id},
    )
    assert len(again) == 1
    assert again[0]["c"] == created["c"]
    assert again[0]["u"] > created["u"]


def test_duplicate_ids_in_one_batch_keep_the_last(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    tid, oid = new_id(32), new_id()
    writer.write_observations(
        [record(project_id, tid, oid, name="first"), record(project_id, tid, oid, name="second")]
    )
    assert observation(client, project_id, oid)["name"] == "second"
    assert raw_count(client, "observations", project_id) == 1


class FailingTraceInserts(DelegatingClient):
    """Delegates to a real client but fails the next ``fail`` inserts into ``traces``; inserts
    go through ``insert_rows`` only, as on ``ServerClient`` (no Protobuf)."""

    def __init__(self, client: ChdbClient, fail: int) -> None:
        super().__init__(client, frozenset({NATIVE}))
        self.fail = fail

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        if table.endswith(".traces") and self.fail:
            self.fail -= 1
            raise RetryableError("injected: ClickHouse unavailable")
        self.client.insert_rows(table, columns, rows)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        self.insert_rows(table, columns, list(zip(*data, strict=True)))


def test_cache_is_updated_only_after_both_inserts(client: ChdbClient, project_id: str) -> None:
    flaky = FailingTraceInserts(client, fail=0)
    writer = ClickHouseWriter(flaky, database=DB)
    tid = new_id(32)
    writer.write_observations([record(project_id, tid, trace={"tags": ["one"]})])

    flaky.fail = 1
    batch = [record(project_id, tid, trace={"tags": ["two"], "user_id": "u"})]
    with pytest.raises(RetryableError):
        writer.write_observations(batch)
    assert trace(client, project_id, tid)["tags"] == ["one"]  # trace insert failed

    writer.write_observations(batch)  # the retry must merge again, not trust a cached result
    merged = trace(client, project_id, tid)
    assert merged["tags"] == ["one", "two"]
    assert merged["user_id"] == "u"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": ""}, "without project_id"),
        ({"start_time_us": 0}, "outside the supported range"),
        ({"end_time_us": 10**17}, "outside the supported range"),
        ({"total_cost": "lots"}, "not a decimal"),
        ({"cost_details": {"total": "NaN"}}, "not a finite"),
    ],
)
def test_invalid_records_are_permanent_and_write_nothing(
    client: ChdbClient,
    writer: ClickHouseWriter,
    project_id: str,
    change: dict[str, Any],
    message: str,
) -> None:
    good = record(project_id, new_id(32))
    bad = record(project_id, new_id(32), **change)
    with pytest.raises(PermanentError, match=message):
        writer.write_observations([good, bad])
    assert raw_count(client, "observations", project_id) == 0
    assert raw_count(client, "traces", project_id) == 0


def test_money_is_rounded_to_12_digits_and_clamped(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    rec = record(
        project_id,
        new_id(32),
        cost_details={"input": "0.0000000000004", "output": "2.5e-7", "total": "1234567.5"},
        total_cost="-5000000",
    )
    writer.write_observations([rec])
    row = observation(client, project_id, rec.id)
    assert row["cost_details"] == {
        "input": "0",
        "output": "0.00000025",
        "total": "999999.999999999999",
    }
    assert Decimal(row["total_cost"]) == Decimal("-999999.999999999999")


def test_event_clock_is_strictly_increasing() -> None:
    clock = EventClock()
    values = [clock.now_us() for _ in range(10_000)]
    assert values == sorted(set(values))


# ---- the embedded fast path (ClickHouse decodes the records) against the other paths ----------


def columns_only(client: ChdbClient) -> DelegatingClient:
    """A ``Client`` over a real client, without its Protobuf path."""
    return DelegatingClient(client, frozenset({JSON_COMPACT_EACH_ROW, ARROW_STREAM}))


class RowsOnly(FailingTraceInserts):
    """A ``Client`` inserting through ``insert_rows`` only (as ``ServerClient``) over a real
    client."""

    def __init__(self, client: ChdbClient) -> None:
        super().__init__(client, fail=0)


def _diverse_records(project_id: str) -> list[Any]:
    """Records covering every column's edge cases (empty vs unset optionals, defaults, ...)."""
    t1, t2, t3 = new_id(32), new_id(32), new_id(32)
    odd = 'quote\' "double" back\\slash\ttab\nnewline ünïcødé 😀 \x00nul'
    return [
        generation(project_id, t1, trace={"user_id": "u", "tags": ["b", "a"], "name": "n"}),
        record(project_id, t1, end_us=None, trace={"is_root": True}),
        record(
            project_id,
            t2,
            type="",
            level="",
            environment="",
            name="",
            status_message="",
            version="",
            release="",
            input="",
            output="",
            provided_model_name="",
            model_parameters="",
            internal_model_id="",
            prompt_id="",
            prompt_name="",
            prompt_version=0,
            usage_pricing_tier_id="",
            usage_pricing_tier_name="",
            usage_estimated=True,
            parent_observation_id="",
            trace={"name": "", "user_id": "", "session_id": "", "tags": []},
        ),
        record(
            project_id,
            t2,
            name=odd,
            input=odd,
            output=odd,
            metadata={odd: odd, "": "", "k": "v" * 5000},
            provided_usage_details={"input": 2**64 - 1, "": 0},
            usage_details={"total": 2**63, odd: 1},
            provided_cost_details={"input": "-999999.999999999999", "x": "0"},
            cost_details={"total": "0.000000000001", "input": "-0.5", "output": "000123.1"},
            total_cost="999999.999999999999",
            completion_start_time_us=BASE_US + 1,
            prompt_version=2**32 - 1,
            scope_name=odd,
            telemetry_sdk_language="go",
            trace={"tags": [odd, ""], "session_id": odd, "is_root": True, "public": True},
        ),
        record(project_id, t3, start_us=100_000_000 * 1_000_000, end_us=10**16 - 1),
    ]


def _stored_rows(client: ChdbClient, project_id: str) -> list[dict[str, Any]]:
    return client.select(
        "SELECT * EXCEPT (project_id, start_time, end_time, completion_start_time, created_at,"
        " updated_at, event_ts, provided_cost_details, cost_details, total_cost),"
        " toUnixTimestamp64Micro(start_time) AS start_time_us,"
        " toUnixTimestamp64Micro(end_time) AS end_time_us,"
        " toUnixTimestamp64Micro(completion_start_time) AS completion_start_time_us,"
        " mapApply((k, v) -> (k, toString(v)), provided_cost_details) AS provided_cost_details,"
        " mapApply((k, v) -> (k, toString(v)), cost_details) AS cost_details,"
        " toString(total_cost) AS total_cost,"
        " toUnixTimestamp64Micro(created_at) = toUnixTimestamp64Micro(updated_at) AS new_row"
        f" FROM {DB}.observations FINAL WHERE project_id = {{p:String}} ORDER BY id",
        {"p": project_id},
    )


@pytest.mark.parametrize("copies", [1, 40])  # 5 records, or 200 (helper threads)
def test_every_insert_path_stores_the_same_rows(client: ChdbClient, copies: int) -> None:
    ids = [new_id() for _ in range(5 * copies)]
    results = []
    for make in (lambda e: e, columns_only, RowsOnly):
        project_id = f"proj-{new_id(12)}"
        records = [r for _ in range(copies) for r in _diverse_records(project_id)]
        for rec, obs_id in zip(records, ids, strict=True):
            rec.id = obs_id
        ClickHouseWriter(make(client), database=DB).write_observations(records)
        rows = _stored_rows(client, project_id)
        by_id = {rec.id: rec for rec in records}
        for row in rows:
            row.pop("trace_id")  # random per project
            assert row.pop("content_hash") == content_hash(by_id[row["id"]])
        results.append(rows)
    assert len(results[0]) == 5 * copies
    assert results[0] == results[1] == results[2]


def test_large_batches_redelivered_and_changed(client: ChdbClient, project_id: str) -> None:
    traces = [new_id(32) for _ in range(30)]
    batch = [generation(project_id, traces[n % 30], start_us=BASE_US + n) for n in range(300)]
    writer = ClickHouseWriter(client, database=DB)
    writer.write_observations(batch)
    before = _api_snapshot(client, project_id, traces[:3])
    counts = (
        raw_count(client, "observations", project_id),
        raw_count(client, "traces", project_id),
    )
    assert counts == (300, 30)

    writer.write_observations(batch)  # warm cache
    ClickHouseWriter(client, database=DB).write_observations(batch)  # cold cache
    assert _api_snapshot(client, project_id, traces[:3]) == before
    assert (
        raw_count(client, "observations", project_id),
        raw_count(client, "traces", project_id),
    ) == counts

    first = {row["id"]: row for row in _times(client, project_id)}
    changed = [
        generation(project_id, r.trace_id, r.id, start_us=r.start_time_us, output='"v2"')
        if n % 3 == 0
        else r
        for n, r in enumerate(batch)
    ]
    ClickHouseWriter(client, database=DB).write_observations(changed)
    assert raw_count(client, "observations", project_id) == 400
    second = {row["id"]: row for row in _times(client, project_id)}
    for n, rec in enumerate(batch):
        old, new = first[rec.id], second[rec.id]
        assert new["c"] == old["c"]
        assert (new["u"] > old["u"]) is (n % 3 == 0)
        assert new["output"] == ('"v2"' if n % 3 == 0 else rec.output)


def _times(client: ChdbClient, project_id: str) -> list[dict[str, Any]]:
    return client.select(
        "SELECT id, output, toUnixTimestamp64Micro(created_at) AS c,"
        f" toUnixTimestamp64Micro(updated_at) AS u FROM {DB}.observations FINAL"
        " WHERE project_id = {p:String}",
        {"p": project_id},
    )


class Flaky(DelegatingClient):
    """The real client (all paths) failing the next ``fail`` calls of one kind."""

    def __init__(self, client: ChdbClient, kind: str, fail: int = 1) -> None:
        super().__init__(client)
        self.kind = kind
        self.fail = fail

    def _maybe_fail(self, kind: str) -> None:
        if kind == self.kind and self.fail:
            self.fail -= 1
            raise RetryableError(f"injected: {kind} failed")

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self._maybe_fail("select")
        return self.client.select(sql, params)

    def prepare_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> Any:
        prepared = self.client.prepare_columns(table, columns, data)
        if table.endswith(".traces"):
            try:
                self._maybe_fail("traces")
            except RetryableError:
                prepared.discard()
                raise
            return self._failing_run(prepared, "traces_run")
        return prepared

    def _failing_run(self, prepared: Any, kind: str) -> Any:
        """``prepared`` whose ``run`` fails first when ``kind`` is the failing kind."""
        flaky = self

        class Run:
            def run(self, starting: Any = None) -> None:
                flaky._maybe_fail(kind)
                prepared.run(starting)

            def discard(self) -> None:
                prepared.discard()

        return Run()

    def prepare_protobuf(self, insert: ProtobufInsert) -> Any:
        return self._failing_run(self.client.prepare_protobuf(insert), "observations")


@pytest.mark.parametrize("kind", ["select", "observations", "traces"])
@pytest.mark.parametrize("size", [5, 200])
def test_failures_write_nothing_and_retry_cleanly(
    client: ChdbClient, project_id: str, kind: str, size: int
) -> None:
    traces = [new_id(32) for _ in range(5)]
    ClickHouseWriter(client, database=DB).write_observations(
        [record(project_id, t, trace={"tags": ["old"]}) for t in traces]
    )
    flaky = Flaky(client, kind)
    writer = ClickHouseWriter(flaky, database=DB, trace_cache_size=0)
    batch = [
        record(project_id, traces[n % 5], start_us=BASE_US + n, trace={"tags": [f"t{n % 2}"]})
        for n in range(size)
    ]
    with pytest.raises(RetryableError, match="injected"):
        writer.write_observations(batch)
    if kind != "traces":  # a failed trace insert follows the observation insert
        assert raw_count(client, "observations", project_id) == 5
    assert trace(client, project_id, traces[0])["tags"] == ["old"]
    assert not any(client.path.joinpath("otelfuse-inserts").glob("insert-*"))

    writer.write_observations(batch)
    assert raw_count(client, "observations", project_id) == 5 + size
    expected = sorted({"old"} | {f"t{n % 2}" for n in range(0, size, 5)})
    assert trace(client, project_id, traces[0])["tags"] == expected


def test_invalid_record_in_a_large_batch_writes_nothing(
    client: ChdbClient, writer: ClickHouseWriter, project_id: str
) -> None:
    batch = [generation(project_id, new_id(32)) for _ in range(150)]
    batch[77].cost_details["total"] = "lots"
    with pytest.raises(PermanentError, match=r"cost_details\[total\]"):
        writer.write_observations(batch)
    assert raw_count(client, "observations", project_id) == 0
    assert raw_count(client, "traces", project_id) == 0
    batch[77].cost_details["total"] = "1.23456789012345"  # rounded: through the column path
    writer.write_observations(batch)
    assert observation(client, project_id, batch[77].id)["cost_details"]["total"] == (
        "1.234567890123"
    )


def _stored(
    client: ChdbClient, project_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every stored trace and observation of a project (FINAL), without project_id and the
    write times, sorted. (Raw row counts are not compared: background merges collapse
    versions at any time.)"""
    traces = client.select(
        "SELECT * EXCEPT (project_id, created_at, updated_at, event_ts)"
        f" FROM {DB}.traces FINAL WHERE project_id = {{p:String}} ORDER BY id",
        {"p": project_id},
    )
    observations = client.select(
        "SELECT * EXCEPT (project_id, created_at, updated_at, event_ts, content_hash),"
        " created_at < updated_at AS rewritten"
        f" FROM {DB}.observations FINAL WHERE project_id = {{p:String}} ORDER BY id",
        {"p": project_id},
    )
    return traces, observations


@pytest.mark.parametrize("kind", ["observations", "traces", "traces_run"])
@pytest.mark.parametrize("size", [6, 200])
@pytest.mark.parametrize("retried", [True, False])
def test_failed_batch_then_the_next_stores_what_a_clean_run_stores(
    client: ChdbClient, kind: str, size: int, retried: bool
) -> None:
    """Batch N fails (observation or trace insert), is retried (the consumer rewinds) or not
    (an exporter that gives up), then batch N+1 follows, whose traces continue N's and which
    changes some of N's observations. N+1 merges onto N's trace states only when N was written:
    the failed attempt must leave the LRU untouched, and the stored rows equal those of a run
    without the failed attempt. The case a pipelined writer, preparing N+1 on N's merged states
    while N is inserted, has to keep."""
    traces = [new_id(32) for _ in range(3)]
    ids = [new_id(16) for _ in range(size)]
    more = [new_id(16) for _ in range(size)]

    def batches(project_id: str) -> list[list[Any]]:
        first = [
            record(
                project_id,
                traces[n % 3],
                ids[n],
                start_us=BASE_US + n,
                trace={"tags": [f"a{n % 2}"], **({"user_id": "u1"} if n == 0 else {})},
                output=f'"first {n}"',
            )
            for n in range(size)
        ]
        second = [
            record(
                project_id,
                traces[n % 3],
                ids[n] if n % 2 else more[n],  # odd: a changed version of N's observation
                start_us=BASE_US + n,
                end_us=BASE_US + 10_000_000 + n,
                trace={"tags": ["b"], **({"session_id": "s1"} if n == 1 else {})},
                output=f'"second {n}"',
            )
            for n in range(size)
        ]
        return [first, second]

    clean, flaky_project = new_id(8), new_id(8)
    writer = ClickHouseWriter(client, database=DB)
    for batch in batches(clean)[0 if retried else 1 :]:
        writer.write_observations(batch)

    flaky = Flaky(client, kind)
    writer = ClickHouseWriter(flaky, database=DB)
    first, second = batches(flaky_project)
    with pytest.raises(RetryableError, match="injected"):
        writer.write_observations(first)
    if retried:
        writer.write_observations(first)  # the consumer's retry of N
    writer.write_observations(second)

    expected = _stored(client, clean)
    stored = _stored(client, flaky_project)
    if not retried:
        assert stored[0] == expected[0]  # the traces hold nothing of N
        if kind != "observations":
            return  # N's observation insert had succeeded: its rows are there
        assert stored == expected
        assert [t["tags"] for t in expected[0]] == [["b"]] * 3
        return
    assert stored == expected
    stored_traces, stored_observations = expected
    assert [t["tags"] for t in stored_traces] == [["a0", "a1", "b"]] * 3
    assert sum(t["user_id"] == "u1" for t in stored_traces) == 1
    assert sum(t["session_id"] == "s1" for t in stored_traces) == 1
    assert len(stored_observations) == size + size // 2  # N's, plus N+1's new ones
    assert sum(o["rewritten"] for o in stored_observations) == size // 2  # the changed ones


def test_trace_cache_is_bounded_by_bytes(client: ChdbClient, project_id: str) -> None:
    """The trace LRU holds each trace's input and output: bounded by count alone, 100,000 traces
    with 200 KB inputs (below the claim-check threshold) would keep 20 GB. It is bounded by an
    estimate of the bytes it holds too (issue 15: no input may take the process past its
    memory budget)."""
    budget = 4 * 1024 * 1024
    writer = ClickHouseWriter(client, database=DB, trace_cache_bytes=budget)
    text = "x" * 100_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for batch in range(10):  # 300 traces, 30 MB of trace inputs in all
            writer.write_observations(
                [
                    record(project_id, new_id(32), trace={"input": f"{batch}:{i}:{text}"})
                    for i in range(30)
                ]
            )
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 3 * budget, kept
    # the cache still works: the last traces are there
    assert writer.cached_trace_bytes() <= budget
    assert writer.cached_trace_bytes() > budget // 2
