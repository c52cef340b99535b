"""GenAI log content meets its span in either arrival order, on real embedded ClickHouse
(``processors.log_merge``, ``storage.clickhouse.log_io``; docs/mapping.md "GenAI event log
records"); the ``SoleWriterLogIO`` index of the all-in-one)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from processors.log_merge import LogIO, LogMerge, fold_log
from processors.merge import MergeThenEnrichAndWrite
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.client import Client
from storage.clickhouse.log_io import LogIOStore, SoleWriterLogIO
from storage.clickhouse.observation_reader import ObservationReader
from storage.clickhouse.writer import ClickHouseWriter
from storage.records import ObservationRecord
from tests.support.chdb import DATABASE
from tests.support.fakes import DelegatingClient

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
START_US = 1_763_802_000_123_456

Step = Callable[[Sequence[ObservationRecord]], None]


def make_step(client: Client, kept: LogIO) -> Step:
    writer = ClickHouseWriter(client, database=DATABASE)
    stored = ObservationReader(client, DATABASE)
    return MergeThenEnrichAndWrite(
        writer.write_observations, stored, writer, LogMerge(stored, kept)
    )


@pytest.fixture(params=["always-read", "sole-writer"])
def step(client: ChdbClient, request: pytest.FixtureRequest) -> Step:
    store = LogIOStore(client, DATABASE)
    return make_step(client, store if request.param == "always-read" else SoleWriterLogIO(store))


class LogIOStatements(DelegatingClient):
    """Counts the SELECTs on ``log_io``: the index load (``DISTINCT``) and the reads."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.loads = 0
        self.reads = 0

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        if ".log_io" in sql:
            if "DISTINCT" in sql:
                self.loads += 1
            else:
                self.reads += 1
        return super().select(sql, params)


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


def test_sole_writer_reloads_kept_traces_after_a_restart(
    client: ChdbClient, project_id: str
) -> None:
    before = make_step(client, SoleWriterLogIO(LogIOStore(client, DATABASE)))
    before([log(project_id, input=INPUT, output=OUTPUT)])
    assert nothing_stored(client, project_id)
    counting = LogIOStatements(client)
    after = make_step(counting, SoleWriterLogIO(LogIOStore(counting, DATABASE)))  # restarted
    after([span(project_id)])
    assert (counting.loads, counting.reads) == (1, 1)
    assert_complete(stored(client, project_id))


def test_sole_writer_reads_only_traces_with_kept_records(
    client: ChdbClient, project_id: str
) -> None:
    counting = LogIOStatements(client)
    step = make_step(counting, SoleWriterLogIO(LogIOStore(counting, DATABASE)))
    step([span(project_id)])
    step([span(project_id)])
    assert (counting.loads, counting.reads) == (1, 0)  # loaded once, never read
    assert stored(client, project_id).input == ""
    step([log(project_id, input=INPUT, output=OUTPUT)])  # span first: folded on the stored row
    assert_complete(stored(client, project_id))
    step([span(project_id)])  # sent again: reads the kept records of its trace
    assert (counting.loads, counting.reads) == (1, 1)
    assert_complete(stored(client, project_id))


def test_sole_writer_over_its_limit_reads_every_batch(client: ChdbClient, project_id: str) -> None:
    counting = LogIOStatements(client)
    step = make_step(counting, SoleWriterLogIO(LogIOStore(counting, DATABASE), limit=0))
    step([log(f"{project_id}-other", input=INPUT)])  # one pair: more than the limit
    step([span(project_id)])
    assert counting.reads == 1
    assert stored(client, project_id).input == ""
    reloaded = make_step(counting, SoleWriterLogIO(LogIOStore(counting, DATABASE), limit=0))
    reloaded([span(project_id)])  # the table holds more pairs than the limit at load
    assert (counting.loads, counting.reads) == (2, 2)
