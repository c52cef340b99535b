"""One batch's work: enrich the records, then write them (the pipeline's ``process`` step); the
enrichment ahead of it in the all-in-one's receiver workers; and the score step of the scale-out
consumer.

Enrichment ahead (``enrich_ahead``, ``OTELFUSE_WORKERS`` > 1, docs/architecture.md "Worker
processes"): a worker enriches the full span records it mapped and marks them ``enriched``
(records.proto); ``EnrichAndWrite`` then enriches only the records without the mark. The
merge steps before it (``processors.merge.MergeThenEnrichAndWrite``) change an input of
enrichment (model, usage, cost, level, input/output, model parameters, metadata, start time)
only of records they fold: ingestion events and their stored rows (``partial``, never enriched
ahead; ``merge.fold`` clears the mark), trace-create records (``trace_only``, not enriched at
all), GenAI log content (``from_log``, never enriched ahead) and the spans it is folded onto
(``log_merge.fold_log`` clears the mark when it sets a side the enrichment reads). So a marked
record holds exactly the enrichment ``EnrichAndWrite`` would compute. The processor metrics
(tokens, cost, unpriced) are counted by ``EnrichAndWrite`` for every record it writes, marked
ones read back from their fields (``enrich.enrichment_stats``): the same series as without
workers, each record counted once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from processors.enrich import Enricher, EnrichStats, enrichment_stats
from processors.telemetry import PROCESSOR_METRICS
from storage.records import ObservationRecord, ScoreRecord

__all__ = [
    "EnrichAndWrite",
    "ObservationWriter",
    "ScoreWriterLike",
    "WriteScores",
    "enrich_ahead",
    "enrichable_ahead",
]


class ObservationWriter(Protocol):
    """Durably stores enriched records (e.g. ``storage.clickhouse.writer.ClickHouseWriter``)."""

    def write_observations(self, records: Sequence[ObservationRecord]) -> None:
        """Write ``records``; raises ``RetryableError`` or ``PermanentError``."""
        ...


class ScoreWriterLike(Protocol):
    """Durably stores scores (e.g. ``storage.clickhouse.scores.ScoreWriter``)."""

    def write_scores(self, records: Sequence[ScoreRecord]) -> None:
        """Write ``records``; raises ``RetryableError`` or ``PermanentError``."""
        ...


class WriteScores:
    """Score step of ``processors.kafka.consumer.RecordConsumer``: ``writer.write_scores``,
    counted in ``otelfuse_processor_scores_total{outcome}``. Runs in a worker thread; raises
    whatever the writer raises."""

    def __init__(self, writer: ScoreWriterLike) -> None:
        self._writer = writer

    def __call__(self, records: Sequence[ScoreRecord]) -> None:
        try:
            self._writer.write_scores(records)
        except Exception:
            PROCESSOR_METRICS.scores.labels("failure").inc(len(records))
            raise
        PROCESSOR_METRICS.scores.labels("success").inc(len(records))


def enrichable_ahead(record: ObservationRecord) -> bool:
    """True for a record whose enrichment no step before ``EnrichAndWrite`` recomputes from
    other inputs (module docstring): a full span record, not an ingestion event
    (``partial``), a trace-create record (``trace_only``) or GenAI log content (``from_log``)."""
    return not (record.partial or record.trace_only or record.from_log)


def enrich_ahead(enricher: Enricher, records: Sequence[ObservationRecord]) -> EnrichStats:
    """Enrich the ``enrichable_ahead`` records of ``records`` in place and mark them
    ``enriched``, so that ``EnrichAndWrite`` keeps their enrichment (and counts their tokens and
    cost when it writes them); counted in ``otelfuse_processor_enriched_records_total``. Returns
    what the enricher did.

    Blocks (prices, prompts and custom models may be read from PostgreSQL): call it in a thread.
    """
    ahead = [r for r in records if enrichable_ahead(r)]
    if not ahead:
        return EnrichStats()
    stats = enricher.enrich(ahead)
    for record in ahead:
        record.enriched = True
    PROCESSOR_METRICS.enriched.inc(len(ahead))
    return stats


class EnrichAndWrite:
    """``Pipeline`` process step: ``Enricher.enrich`` then ``ObservationWriter.write_observations``.

    Records marked ``enriched`` (``enrich_ahead``) keep their enrichment; the mark is cleared
    before the write (it is never stored, and the content hash is the same as without it).
    ``otelfuse_processor_enriched_records_total`` counts the records enriched here; tokens and
    cost are counted for all records written.

    Runs in a worker thread. Raises whatever the writer raises, after counting the failure.
    """

    def __init__(self, enricher: Enricher, writer: ObservationWriter) -> None:
        self._enricher = enricher
        self._writer = writer

    def __call__(self, records: Sequence[ObservationRecord]) -> None:
        started = time.perf_counter()
        pending: list[ObservationRecord] = []
        ahead: list[ObservationRecord] = []
        for record in records:
            if record.enriched:
                record.ClearField("enriched")
                ahead.append(record)
            else:
                pending.append(record)
        stats = self._enricher.enrich(pending) if pending else EnrichStats()
        PROCESSOR_METRICS.enriched.inc(len(pending))
        if ahead:
            stats.add(enrichment_stats(ahead))
        try:
            self._writer.write_observations(records)
        except Exception:
            PROCESSOR_METRICS.batches.labels("failure").inc()
            PROCESSOR_METRICS.records.labels("failure").inc(len(records))
            raise
        PROCESSOR_METRICS.batches.labels("success").inc()
        PROCESSOR_METRICS.records.labels("success").inc(len(records))
        PROCESSOR_METRICS.record_enrichment(stats)
        PROCESSOR_METRICS.batch_duration.observe(time.perf_counter() - started)
