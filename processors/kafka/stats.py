"""Counters of what the Kafka consumer did (for tests and the benchmark; metrics are in
``processors.kafka.telemetry``)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ConsumerStats"]


@dataclass(slots=True)
class ConsumerStats:
    """What the consumer did so far (for tests and the benchmark; metrics are separate).

    Attributes:
        batches: batches flushed and committed (or whose commit failed after the write).
        messages: Kafka messages in those batches.
        records: records (observations and scores) processed successfully.
        dead_lettered: messages written to the dead-letter topic.
        retries: flushes that failed retryably (the batch is read again).
        commit_failures: commits refused after a successful write (e.g. the group rebalanced).
        triggers: batches by what flushed them: ``size``, ``timeout``, ``revoke``, ``shutdown``.
        decode_s / process_s / commit_s: time spent in each step.
    """

    batches: int = 0
    messages: int = 0
    records: int = 0
    dead_lettered: int = 0
    retries: int = 0
    commit_failures: int = 0
    triggers: dict[str, int] = field(default_factory=dict)
    decode_s: float = 0.0
    process_s: float = 0.0
    commit_s: float = 0.0
