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
            "Kafka records not yet fetched, summed over this processor's assigned partitions"
            " (high watermark minus position); NaN while it holds no partitions.",
        )
        self.group_lag = Gauge(
            "otelfuse_processor_group_lag_records",
            "Kafka records the consumer group has not committed yet, summed over every"
            " partition of the consumed topics (high watermark minus committed offset), whoever"
            " holds them; the same on every processor (aggregate with max); NaN when unknown.",
        )
        self.assigned_partitions = Gauge(
            "otelfuse_processor_assigned_partitions",
            "Partitions of the consumed topics this processor holds.",
        )
        self.retries = Counter(
            "otelfuse_processor_retries",
            "Batches that failed with a retryable error and will be read and processed again.",
        )
        self.lag.set(float("nan"))
        self.group_lag.set(float("nan"))
        for reason in ("decode", "process"):
            self.dead_lettered.labels(reason)
        for outcome in ("success", "failure"):
            self.commits.labels(outcome)


CONSUMER_METRICS = ConsumerMetrics()
