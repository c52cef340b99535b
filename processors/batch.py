"""One batch's work: enrich the records, then write them (the pipeline's ``process`` step); and
the score step of the scale-out consumer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from processors.enrich import Enricher
from processors.telemetry import PROCESSOR_METRICS
from storage.records import ObservationRecord, ScoreRecord

__all__ = ["EnrichAndWrite", "ObservationWriter", "ScoreWriterLike", "WriteScores"]


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


class EnrichAndWrite:
    """``Pipeline`` process step: ``Enricher.enrich`` then ``ObservationWriter.write_observations``.

    Runs in a worker thread. Raises whatever the writer raises, after counting the failure.
    """

    def __init__(self, enricher: Enricher, writer: ObservationWriter) -> None:
        self._enricher = enricher
        self._writer = writer

    def __call__(self, records: Sequence[ObservationRecord]) -> None:
        started = time.perf_counter()
        stats = self._enricher.enrich(records)
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
