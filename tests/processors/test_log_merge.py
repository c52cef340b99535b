"""GenAI log content meets its span in either arrival order, on real embedded ClickHouse
(``processors.log_merge``, ``storage.clickhouse.log_io``; docs/mapping.md "GenAI event log
records")."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from processors.log_merge import LogMerge, fold_log
from processors.merge import MergeThenEnrichAndWrite
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.log_io import LogIOStore
from storage.clickhouse.observation_reader import ObservationReader
from storage.clickhouse.writer import ClickHouseWriter
from storage.records import ObservationRecord
from tests.support.chdb import DATABASE

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
START_US = 1_763_802_000_123_456

Step = Callable[[Sequence[ObservationRecord]], None]


@pytest.fixture
def step(client: ChdbClient, writer: ClickHouseWriter) -> Step:
    stored = ObservationReader(client, DATABASE)
    logs = LogMerge(stored, LogIOStore(client, DATABASE))
    return MergeThenEnrichAndWrite(writer.write_observations, stored, writer, logs)


def span(
    project_id: str, scope: str = "opentelemetry.instrumentation.openai_v2", input: str = ""
) -> ObservationRecord:
    record = ObservationRecord(
        project_id=project_id,
        id=SPAN,
        trace_id=TRACE,
        type="GENERATION",
        name="chat gpt-4o",
        environment="default",
        level="DEFAULT",
        start_time_us=START_US,
        end_time_us=START_US + 1000,
        provided_model_name="gpt-4o",
        scope_name=scope,
    )
    if input:
        record.input = input
    return record


def log(project_id: str, input: str = "", output: str = "") -> ObservationRecord:
    record = ObservationRecord(
        project_id=project_id, id=SPAN, trace_id=TRACE, partial=True, from_log=True
    )
    if input:
        record.input = input
    if output:
        record.output = output
    return record


def stored(client: ChdbClient, project_id: str) -> ObservationRecord:
    rows = client.select(
        f"SELECT count() AS n FROM {DATABASE}.observations FINAL"
        " WHERE project_id = {p:String} AND is_deleted = 0",
        {"p": project_id},
    )
    assert int(rows[0]["n"]) == 1  # one row: nothing doubled
    [record] = ObservationReader(client, DATABASE).read([(project_id, SPAN)])[(project_id, SPAN)]
    return record


def nothing_stored(client: ChdbClient, project_id: str) -> bool:
    return not ObservationReader(client, DATABASE).read([(project_id, SPAN)])


def assert_complete(record: ObservationRecord) -> None:
    assert record.name == "chat gpt-4o" and record.type == "GENERATION"
    assert record.start_time_us == START_US and record.provided_model_name == "gpt-4o"
    assert record.input == '[{"role":"user","content":"Hi"}]'
    assert record.output == '{"index":0,"message":{"content":"Hello"}}'


INPUT = '[{"role":"user","content":"Hi"}]'
OUTPUT = '{"index":0,"message":{"content":"Hello"}}'


def test_log_first_waits_for_its_span(client: ChdbClient, project_id: str, step: Step) -> None:
    step([log(project_id, input=INPUT)])
    step([log(project_id, output=OUTPUT)])  # another request: the choice event came later
    assert nothing_stored(client, project_id)  # no placeholder observation
    step([span(project_id)])
    assert_complete(stored(client, project_id))


def test_span_first_gets_the_log_content(client: ChdbClient, project_id: str, step: Step) -> None:
    step([span(project_id)])
    step([log(project_id, input=INPUT, output=OUTPUT)])
    assert_complete(stored(client, project_id))
    step([log(project_id, input=INPUT, output=OUTPUT)])  # redelivered
    step([span(project_id)])  # the span sent again keeps its log content
    assert_complete(stored(client, project_id))


@pytest.mark.parametrize("log_first", [True, False])
def test_one_batch_either_order(
    client: ChdbClient, project_id: str, step: Step, log_first: bool
) -> None:
    records = [span(project_id), log(project_id, input=INPUT, output=OUTPUT)]
    step(records[::-1] if log_first else records)
    assert_complete(stored(client, project_id))


def test_log_content_replaces_attribute_content(
    client: ChdbClient, project_id: str, step: Step
) -> None:
    step([span(project_id, input='"from attributes"')])
    step([log(project_id, input=INPUT)])
    assert stored(client, project_id).input == INPUT


def test_scopes_before_events_keep_their_own_side() -> None:
    vercel = span("p", scope="ai", input='"own"')
    fold_log(vercel, log("p", input=INPUT, output=OUTPUT))
    assert (vercel.input, vercel.output) == ('"own"', OUTPUT)  # the empty side is filled
