"""Metrics of the processor's Kafka consumer (docs/architecture.md "Metrics").

"Records" here are *Kafka* records (messages), the unit of offsets and lag; each carries one
``ObservationBatch``. Observation rows written are counted by ``processors.telemetry``
(``otelfuse_processor_records_total``). Labels are small enums only:

- ``reason``: ``decode`` (the value is not an ``ObservationBatch``) | ``process`` (the process
  step raised ``PermanentError`` for the message's records);
- ``outcome``: ``success`` | ``failure``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["CONSUMER_METRICS", "ConsumerMetrics"]


class ConsumerMetrics:
    """The consumer's Prometheus instruments (default registry)."""

    def __init__(self) -> None:
        self.consumed = Counter(
            "otelfuse_processor_consumed_records",
            "Kafka records fetched from the observations topic (re-reads after a retry included).",
        )
        self.dead_lettered = Counter(
            "otelfuse_processor_dead_lettered_records",
            "Kafka records written to the dead-letter topic, by reason.",
            ["reason"],
        )
        self.commits = Counter(
            "otelfuse_processor_commits",
            "Offset commits after a batch was written, by outcome.",
            ["outcome"],
        )
        self.lag = Gauge(
            "otelfuse_processor_consumer_lag_records",
            "Kafka records not yet fetched, summed over the assigned partitions"
            " (high watermark minus position).",
        )
        self.retries = Counter(
            "otelfuse_processor_retries",
            "Batches that failed with a retryable error and will be read and processed again.",
        )
        for reason in ("decode", "process"):
            self.dead_lettered.labels(reason)
        for outcome in ("success", "failure"):
            self.commits.labels(outcome)


CONSUMER_METRICS = ConsumerMetrics()
