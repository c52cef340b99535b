"""The merge rules of ingestion events (processors.merge; docs/reference/langfuse.md §3.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from processors.merge import MergeThenEnrichAndWrite, fold, merge_partials
from storage.metadata import merge_metadata
from storage.records import ObservationRecord

T0 = 1_763_770_000_000_000


def event(obs_id: str = "obs-1", **fields: Any) -> ObservationRecord:
    """A partial record; ``fields`` set scalars, maps are dicts."""
    record = ObservationRecord(project_id="p1", id=obs_id, partial=True)
    for key, value in fields.items():
        if isinstance(value, dict):
            getattr(record, key).update(value)
        else:
            setattr(record, key, value)
    return record


def test_later_values_win_and_immutables_keep_the_first() -> None:
    create = event(
        trace_id="trace-1",
        type="GENERATION",
        name="chat",
        environment="prod",
        start_time_us=T0,
        provided_model_name="gpt-4o",
        input='{"q":1}',
        level="DEFAULT",
    )
    update = event(
        trace_id="trace-2",
        type="SPAN",
        environment="dev",
        start_time_us=T0 + 5,
        end_time_us=T0 + 1_000,
        output="done",
        level="WARNING",
        name="",
    )
    merged = fold(None, [create, update])
    assert (merged.trace_id, merged.type, merged.environment) == ("trace-1", "GENERATION", "prod")
    assert merged.start_time_us == T0
    assert merged.name == "chat"  # an empty name is "not set"
    assert merged.end_time_us == T0 + 1_000 and merged.output == "done"
    assert merged.level == "WARNING" and merged.input == '{"q":1}'
    assert not merged.partial


def test_empty_values_and_maps_never_overwrite() -> None:
    create = event(
        start_time_us=T0,
        input="question",
        model_parameters='{"temperature":0.1}',
        provided_usage_details={"input": 10},
        provided_cost_details={"input": "0.1"},
    )
    update = event(start_time_us=T0, input="", model_parameters="{}")
    merged = fold(None, [create, update])
    assert merged.input == "question"
    assert merged.model_parameters == '{"temperature":0.1}'
    assert dict(merged.provided_usage_details) == {"input": 10}
    assert dict(merged.provided_cost_details) == {"input": "0.1"}


def test_usage_and_cost_merge_key_by_key() -> None:
    create = event(start_time_us=T0, provided_usage_details={"input": 10, "output": 1})
    update = event(start_time_us=T0, provided_usage_details={"output": 20})
    merged = fold(None, [create, update])
    assert dict(merged.provided_usage_details) == {"input": 10, "output": 20}


def test_metadata_is_deep_merged() -> None:
    base = {"a": '{"x":1,"nested":{"k":1}}', "b": '"keep"', "c": "1"}
    update = {"a": '{"y":2,"nested":{"j":2}}', "c": '"replaced"', "d": "{}"}
    merged = merge_metadata(base, update)
    assert orjson.loads(merged["a"]) == {"x": 1, "y": 2, "nested": {"k": 1, "j": 2}}
    assert merged["b"] == '"keep"' and merged["c"] == '"replaced"' and merged["d"] == "{}"
    assert merge_metadata({"a": '{"x":1}'}, {"a": "{}"}) == {"a": '{"x":1}'}


def test_finishing_defaults() -> None:
    merged = fold(None, [event(start_time_us=T0 + 10, end_time_us=T0)])
    assert merged.trace_id == "obs-1"  # synthetic trace, like Langfuse for SDK < 2
    assert merged.level == "DEFAULT" and merged.environment == "default"
    assert merged.end_time_us == T0 + 10  # end before start is clamped to start


def test_stored_row_is_the_base_and_enrichment_is_cleared() -> None:
    stored = ObservationRecord(
        project_id="p1",
        id="obs-1",
        trace_id="trace-1",
        type="GENERATION",
        start_time_us=T0,
        environment="prod",
        provided_model_name="gpt-4o",
        total_cost="1.5",
        internal_model_id="m",
    )
    stored.usage_details["input"] = 5
    merged = fold(stored, [event(trace_id="", output="hi", start_time_us=T0 + 99)])
    assert merged.trace_id == "trace-1" and merged.start_time_us == T0
    assert merged.output == "hi" and merged.provided_model_name == "gpt-4o"
    assert not merged.HasField("total_cost") and not merged.usage_details
    assert stored.total_cost == "1.5"  # inputs are not modified


def test_fold_is_idempotent() -> None:
    events = [
        event(trace_id="t", start_time_us=T0, metadata={"m": '{"a":1}'}),
        event(metadata={"m": '{"b":2}'}, provided_usage_details={"output": 3}, start_time_us=T0),
    ]
    once = fold(None, events)
    assert fold(once, events) == once


class FakeStored:
    def __init__(self, rows: Mapping[tuple[str, str], list[ObservationRecord]]) -> None:
        self.rows = rows
        self.calls: list[list[tuple[str, str]]] = []

    def read(
        self, keys: Sequence[tuple[str, str]]
    ) -> Mapping[tuple[str, str], list[ObservationRecord]]:
        self.calls.append(list(keys))
        return self.rows


def test_merge_partials_keeps_order_and_reads_once() -> None:
    otlp = ObservationRecord(project_id="p1", id="span", trace_id="t")
    stored_a = ObservationRecord(project_id="p1", id="a", trace_id="t", start_time_us=T0, name="x")
    other_trace = ObservationRecord(project_id="p1", id="a", trace_id="u", start_time_us=T0)
    reader = FakeStored({("p1", "a"): [other_trace, stored_a]})
    records = [
        event("a", trace_id="t", output="1", start_time_us=T0),
        otlp,
        event("b", start_time_us=T0),
        event("a", output="2", start_time_us=T0),
    ]
    out = merge_partials(records, reader)
    assert reader.calls == [[("p1", "a"), ("p1", "b")]]
    assert [r.id for r in out] == ["a", "span", "b"]
    assert out[0].name == "x" and out[0].output == "2" and out[0].trace_id == "t"
    assert out[1] is otlp


def test_merge_partials_without_partials_reads_nothing() -> None:
    reader = FakeStored({})
    records = [ObservationRecord(project_id="p1", id="s", trace_id="t")]
    assert merge_partials(records, reader) == records
    assert reader.calls == []


def test_process_step_writes_trace_only_records_first() -> None:
    calls: list[tuple[str, list[str]]] = []

    class Traces:
        def write_traces(self, records: Sequence[ObservationRecord]) -> None:
            calls.append(("traces", [r.id for r in records]))

    def inner(records: Sequence[ObservationRecord]) -> None:
        calls.append(("write", [r.id for r in records]))

    step = MergeThenEnrichAndWrite(inner, FakeStored({}), Traces())
    trace = ObservationRecord(project_id="p1", id="t", trace_id="t", trace_only=True)
    step([trace, event("a", trace_id="t", start_time_us=T0)])
    assert calls == [("traces", ["t"]), ("write", ["a"])]
    calls.clear()
    step([trace])
    assert calls == [("traces", ["t"])]


def test_update_naming_another_trace_keeps_the_stored_trace() -> None:
    stored = ObservationRecord(project_id="p1", id="a", trace_id="t", start_time_us=T0)
    [merged] = merge_partials(
        [event("a", trace_id="other", output="x", start_time_us=T0)],
        FakeStored({("p1", "a"): [stored]}),
    )
    assert merged.trace_id == "t" and merged.output == "x"
