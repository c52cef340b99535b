"""Pure trace-merge rules (no ClickHouse): docs/reference/langfuse.md §1.6 / §3.4 style."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from storage.clickhouse.traces import (
    TRACE_COLUMNS,
    TraceState,
    merge_trace,
    trace_columns,
)
from storage.errors import PermanentError
from storage.records import ObservationRecord
from tests.support.records import BASE_US, record

KEY = ("p", "t" * 32)
NOW = 1_800_000_000_000_000


def merge(current: TraceState | None, *records: ObservationRecord) -> TraceState:
    return merge_trace(current, KEY, list(records), now_us=NOW)


def test_new_trace_from_a_child_only() -> None:
    state = merge(None, record("p", KEY[1], start_us=BASE_US + 5, end_us=None, environment="dev"))
    assert state == TraceState(
        project_id="p",
        id=KEY[1],
        timestamp_us=BASE_US + 5,
        end_time_us=BASE_US + 5,
        environment="dev",
        created_at_us=NOW,
    )


def test_explicit_name_beats_root_name_in_any_order() -> None:
    root = record("p", KEY[1], name="root-span", trace={"is_root": True})
    explicit = record("p", KEY[1], trace={"name": "my-trace"})
    assert merge(None, root, explicit).name == "my-trace"
    assert merge(None, explicit, root).name == "my-trace"
    # a root name only fills an empty name
    assert merge(
        merge(None, root), record("p", KEY[1], name="x", trace={"is_root": True})
    ).name == ("root-span")
    # a non-root span's name never names the trace
    assert merge(None, record("p", KEY[1], name="child")).name == ""


def test_later_non_empty_values_win() -> None:
    a = record("p", KEY[1], release="1", version="a", trace={"user_id": "u1", "session_id": "s1"})
    b = record("p", KEY[1], release="2", trace={"user_id": "u2", "session_id": ""})
    state = merge(None, a, b)
    assert (state.user_id, state.session_id, state.release, state.version) == ("u2", "s1", "2", "a")


def test_a_record_without_trace_fields_folds_times_release_and_version() -> None:
    state = merge(None, record("p", KEY[1], name="root", trace={"is_root": True, "user_id": "u"}))
    child = record(
        "p",
        KEY[1],
        name="child",
        start_us=BASE_US - 7,
        end_us=BASE_US + 900_000,
        release="r2",
        version="v2",
        input='"child in"',
        metadata={"k": '"child"'},
    )
    assert not child.trace.ListFields()
    merged = merge(state, child)
    assert merged == TraceState(
        project_id="p",
        id=KEY[1],
        timestamp_us=BASE_US - 7,
        end_time_us=BASE_US + 900_000,
        name="root",
        user_id="u",
        release="r2",
        version="v2",
        created_at_us=NOW,
    )
    # an explicitly set empty trace input is a set field: it overwrites
    assert merge(merged, record("p", KEY[1], trace={"input": ""})).input == ""


def test_environment_first_seen_tags_union_public_last_set_value() -> None:
    public = record("p", KEY[1], environment="dev", trace={"tags": ["c", "a"], "public": True})
    state = merge(
        None,
        record("p", KEY[1], environment="prod", trace={"tags": ["b", "a"], "public": False}),
        public,
        record("p", KEY[1], trace={"tags": ["d"]}),  # public not set: kept
    )
    assert (state.environment, state.tags, state.public) == ("prod", ("a", "b", "c", "d"), True)
    # an explicit false later turns it off (Langfuse: a later set value wins)
    assert merge(state, record("p", KEY[1], trace={"public": False})).public is False


def test_trace_metadata_is_deep_merged() -> None:
    state = merge(
        None,
        record("p", KEY[1], trace={"metadata": {"run": '{"a": 1, "b": {"x": 1}}', "k": '"v"'}}),
        record("p", KEY[1], trace={"metadata": {"run": '{"b": {"y": 2}, "c": null}'}}),
        record("p", KEY[1], trace={"metadata": {"k": '"w"', "run": "{}"}}),
    )
    assert state.metadata == {"run": '{"a":1,"b":{"x":1,"y":2}}', "k": '"w"'}


def test_metadata_trace_keys_win_root_keys_fill() -> None:
    state = merge(
        None,
        record(
            "p",
            KEY[1],
            metadata={"a": '"root-a"', "b": '"root-b"'},
            trace={"is_root": True, "metadata": {"a": '"trace-a"'}},
        ),
        record("p", KEY[1], metadata={"c": "1"}, trace={"metadata": {"b": '"later"'}}),
    )
    assert state.metadata == {"a": '"trace-a"', "b": '"later"'}


def test_input_output_explicit_overwrite_root_fills() -> None:
    root = record("p", KEY[1], input='"root in"', output='"root out"', trace={"is_root": True})
    explicit = record("p", KEY[1], input='"child"', trace={"input": '"trace in"'})
    state = merge(None, explicit, root)
    assert (state.input, state.output) == ('"trace in"', '"root out"')
    assert merge(None, root, explicit).input == '"trace in"'


def test_current_state_is_not_modified_and_merge_is_idempotent() -> None:
    records = [
        record("p", KEY[1], name="r", metadata={"k": "1"}, trace={"is_root": True, "tags": ["x"]}),
        record("p", KEY[1], start_us=BASE_US - 1, trace={"metadata": {"k": "2"}, "user_id": "u"}),
    ]
    once = merge(None, *records)
    snapshot = copy.deepcopy(once)
    twice = merge(once, *records)
    assert twice == once
    assert once == snapshot
    assert twice.metadata is not once.metadata
    # every field is carried over (a state whose fields all differ from the defaults)
    full = TraceState(
        project_id="p",
        id=KEY[1],
        timestamp_us=BASE_US,
        end_time_us=BASE_US + 1,
        name="n",
        user_id="u",
        session_id="s",
        release="r",
        version="v",
        environment="e",
        public=True,
        bookmarked=True,
        tags=("t",),
        metadata={"k": '"v"'},
        input='"i"',
        output='"o"',
        created_at_us=NOW - 1,
    )
    assert {f.name for f in dataclasses.fields(TraceState)} == set(TraceState.__slots__)
    assert all(getattr(full, f.name) != f.default for f in dataclasses.fields(TraceState))
    assert merge(full, record("p", KEY[1], start_us=BASE_US, end_us=BASE_US + 1)) == full
    assert (twice.created_at_us, twice.timestamp_us) == (NOW, BASE_US - 1)


def _states() -> list[TraceState]:
    return [
        merge(None, record("p", KEY[1], end_us=None, trace={"is_root": True, "tags": ["b", "a"]})),
        TraceState(
            project_id="q",
            id="t2",
            timestamp_us=BASE_US,
            end_time_us=None,
            name="n",
            user_id="u",
            metadata={"k": '"v"'},
            input='"in"',
            public=True,
            created_at_us=NOW - 5,
        ),
    ]


def test_trace_columns_are_the_table_columns_in_order() -> None:
    states = _states()
    columns = trace_columns(states, updated_at_us=NOW + 1, event_ts_us=NOW + 2)
    assert tuple(columns) == TRACE_COLUMNS
    assert columns["id"] == [s.id for s in states]
    assert columns["tags"] == [list(s.tags) for s in states]
    assert columns["end_time"] == [s.end_time_us for s in states]
    assert (columns["updated_at"], columns["event_ts"]) == ([NOW + 1] * 2, [NOW + 2] * 2)
    assert columns["is_deleted"] == [0, 0]
    assert trace_columns([], updated_at_us=0, event_ts_us=0) == {n: [] for n in TRACE_COLUMNS}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("end_time_us", 1, "trace t2 end_time 1"),
        ("created_at_us", 10**20, "created_at 100000000000000000000"),
        ("timestamp_us", -1, "trace t2 timestamp -1"),
    ],
)
def test_trace_columns_raise_the_first_time_error_in_column_order(
    field: str, value: int, message: str
) -> None:
    states = _states()
    setattr(states[1], field, value)
    with pytest.raises(PermanentError, match=message):
        trace_columns(states, updated_at_us=NOW, event_ts_us=NOW)
    with pytest.raises(PermanentError, match="updated_at 5 "):
        trace_columns(_states(), updated_at_us=5, event_ts_us=NOW)
