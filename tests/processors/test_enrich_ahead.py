"""Enrichment ahead in the receiver workers (``processors.batch.enrich_ahead``): the owner's
process step keeps the enrichment of marked records, re-enriches a span whose GenAI log content
it folds on, and writes exactly the rows it writes for the same records enriched by itself
(real catalog, real tiktoken, real chdb writer)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import REGISTRY

from processors.batch import EnrichAndWrite, enrich_ahead, enrichable_ahead
from processors.enrich import Enricher, enrichment_stats
from processors.log_merge import LogMerge
from processors.merge import MergeThenEnrichAndWrite
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.log_io import LogIOStore
from storage.clickhouse.observation_reader import ObservationReader
from storage.clickhouse.writer import ClickHouseWriter
from storage.records import ObservationRecord
from tests.processors.conftest import RecordFactory
from tests.support.chdb import DATABASE

Step = Callable[[Sequence[ObservationRecord]], None]

INPUT = '[{"role":"user","content":"What is the capital of France? Answer in one word."}]'
OUTPUT = '{"role":"assistant","content":"Paris."}'
LOG_INPUT = (
    '[{"role":"user","content":"A much longer question from the log record, '
    + ("with many more words than the span attribute had. " * 5)
    + '"}]'
)


def enriched_here() -> float:
    """``otelfuse_processor_enriched_records_total`` of this process."""
    value = REGISTRY.get_sample_value("otelfuse_processor_enriched_records_total")
    return 0.0 if value is None else value


def make_step(client: ChdbClient, enricher: Enricher) -> Step:
    writer = ClickHouseWriter(client, database=DATABASE)
    stored = ObservationReader(client, DATABASE)
    logs = LogMerge(stored, LogIOStore(client, DATABASE))
    return MergeThenEnrichAndWrite(EnrichAndWrite(enricher, writer), stored, writer, logs)


def batch(make_record: RecordFactory, project_id: str) -> list[ObservationRecord]:
    """Spans with reported usage, without (estimated), with provided cost, ERROR level, an
    unknown model, no model; ids ``s0`` ... ``s5``."""
    records = [
        make_record("gpt-4o", {"input": 1200, "output": 80, "input_cached_tokens": 200}),
        make_record("gpt-4o", input=INPUT, output=OUTPUT),
        make_record("gpt-4o-mini", {"input": 10}, {"total": "0.5"}),
        make_record("gpt-4o", level="ERROR", input=INPUT, output=OUTPUT),
        make_record("acme-unknown", input=INPUT, output=OUTPUT),
        make_record(None, {"input": 3, "output": 4}),
    ]
    for index, record in enumerate(records):
        record.project_id = project_id
        record.id = f"s{index}"
    return records


def read(client: ChdbClient, project_id: str) -> dict[str, dict[str, Any]]:
    """The stored rows by id, without the project and the bookkeeping columns."""
    rows = client.select(
        f"SELECT * EXCEPT (project_id, created_at, updated_at, event_ts, content_hash)"
        f" FROM {DATABASE}.observations FINAL WHERE project_id = {{p:String}}",
        {"p": project_id},
    )
    return {str(r["id"]): r for r in rows}


def updated_at(client: ChdbClient, project_id: str) -> dict[str, Any]:
    rows = client.select(
        f"SELECT id, updated_at FROM {DATABASE}.observations FINAL WHERE project_id = {{p:String}}",
        {"p": project_id},
    )
    return {str(r["id"]): r["updated_at"] for r in rows}


def test_marked_records_are_written_as_the_owner_would_enrich_them(
    client: ChdbClient, enricher: Enricher, make_record: RecordFactory, project_id: str
) -> None:
    step = make_step(client, enricher)
    owner, worker = project_id, project_id + "-w"
    step(batch(make_record, owner))
    ahead = batch(make_record, worker)
    stats = enrich_ahead(enricher, ahead)
    assert stats.records == 6 and stats.estimated == 1 and stats.unpriced == 1
    assert all(r.enriched for r in ahead)
    before = enriched_here()
    step(ahead)
    assert enriched_here() == before  # the owner enriched none of them
    owner_rows, worker_rows = read(client, owner), read(client, worker)
    assert len(worker_rows) == 6 and worker_rows == owner_rows
    assert owner_rows["s0"]["cost_details"]["total"] > 0 and owner_rows["s1"]["usage_estimated"]
    # the mark is not stored: the same spans enriched by the owner are the same content
    written = updated_at(client, worker)
    step(batch(make_record, worker))
    assert updated_at(client, worker) == written


def test_the_owner_enriches_the_unmarked_records_of_a_batch(
    client: ChdbClient, enricher: Enricher, make_record: RecordFactory, project_id: str
) -> None:
    records = batch(make_record, project_id)
    enrich_ahead(enricher, records[:2])
    before = enriched_here()
    make_step(client, enricher)(records)
    assert enriched_here() == before + 4
    rows = read(client, project_id)
    assert rows["s0"]["usage_details"]["total"] == 1480
    assert rows["s5"]["usage_details"]["total"] == 7


def test_log_content_folded_onto_a_marked_span_is_counted_again(
    client: ChdbClient, enricher: Enricher, make_record: RecordFactory, project_id: str
) -> None:
    """Log first: the kept log input replaces the span's own, so the estimate the worker made
    from the span's input is stale and the owner estimates again."""
    step = make_step(client, enricher)
    owner, worker = project_id, project_id + "-w"
    for project in (owner, worker):
        log = ObservationRecord(
            project_id=project, id="s1", trace_id=make_record().trace_id, partial=True
        )
        log.from_log = True
        log.input = LOG_INPUT
        assert not enrichable_ahead(log)
        assert enrich_ahead(enricher, [log]).records == 0 and not log.enriched
        step([log])
    spans = {p: batch(make_record, p)[1:2] for p in (owner, worker)}
    enrich_ahead(enricher, spans[worker])
    ahead_input_tokens = spans[worker][0].usage_details["input"]
    before = enriched_here()
    step(spans[worker])
    assert enriched_here() == before + 1  # re-enriched after the fold
    step(spans[owner])
    owner_row, worker_row = read(client, owner)["s1"], read(client, worker)["s1"]
    assert worker_row == owner_row and worker_row["input"] == LOG_INPUT
    assert worker_row["usage_estimated"]
    assert worker_row["usage_details"]["input"] > ahead_input_tokens


def test_only_full_span_records_are_enriched_ahead(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    event, trace, log, span = (make_record(input=INPUT) for _ in range(4))
    event.partial = True
    trace.trace_only = True
    log.partial = log.from_log = True
    before = enriched_here()
    stats = enrich_ahead(enricher, [event, trace, log, span])
    assert stats.records == 1 and enriched_here() == before + 1
    assert [r.enriched for r in (event, trace, log, span)] == [False, False, False, True]
    assert not event.usage_details and span.usage_estimated


def test_log_content_on_a_span_with_reported_usage_keeps_the_enrichment(
    client: ChdbClient, enricher: Enricher, make_record: RecordFactory, project_id: str
) -> None:
    """Reported usage: input/output do not change the enrichment, the owner keeps it."""
    step = make_step(client, enricher)
    log = ObservationRecord(
        project_id=project_id, id="s0", trace_id=make_record().trace_id, partial=True
    )
    log.from_log = True
    log.input = LOG_INPUT
    step([log])
    [span] = batch(make_record, project_id)[:1]
    enrich_ahead(enricher, [span])
    before = enriched_here()
    step([span])
    assert enriched_here() == before
    row = read(client, project_id)["s0"]
    assert row["input"] == LOG_INPUT and row["usage_details"]["total"] == 1480


def test_stats_read_back_are_those_the_enricher_counted(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    records = [
        *batch(make_record, "p"),
        make_record("gpt-4o", {"input": 5}, {"input": "not a number"}),  # priced instead
        make_record("gpt-4o", {"input": 5}, {"input": "0.1"}),  # provided, total = input
        make_record("gpt-4o", {"input": 5}, {"reasoning": "0.1"}),  # provided, no total
        make_record("acme-unknown", {"input": 5}),
        make_record("gpt-4o", level="ERROR"),  # matched, no usage, no cost
    ]
    counted = enricher.enrich(records)
    assert counted.unpriced == 2 and counted.estimated == 1
    back = enrichment_stats(records)
    assert back.records == counted.records
    assert back.tokens == counted.tokens
    assert back.total_cost == counted.total_cost
    assert back.unpriced == counted.unpriced
