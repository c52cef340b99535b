"""When a batch is cut: the size-or-time rule shared by the in-process pipeline
(``processors.pipeline.Pipeline``) and the Kafka consumer
(``processors.kafka.consumer.RecordConsumer``).

A batch is flushed when it holds ``max_records`` records, or ``timeout_ms`` milliseconds after
its first record arrived, whichever comes first: the rule of the OpenTelemetry Collector's batch
processor (``send_batch_size`` / ``timeout``, opentelemetry-collector
``processor/batchprocessor/README.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_BATCH_MAX_RECORDS", "DEFAULT_BATCH_TIMEOUT_MS", "BatchConfig"]

DEFAULT_BATCH_MAX_RECORDS = 20_000
"""Records per batch (observations, or observations and scores on the Kafka consumer).

Under load a batch fills up before its time window ends, and its size is the size of the
ClickHouse insert, so of the part it creates: fewer, larger parts leave less for background
merges to rewrite, and per-batch reads (the stored trace states) run less often. With 20,000
instead of 5,000, the processor step used ≈ 18 % less CPU for 200k records into embedded
ClickHouse (``bench.processor_step``: 87 → 27 parts written by inserts, 15 → 2-3 merges;
docs/benchmarks.md "Processor alone"). At low load the time window cuts the batch, so latency
is unchanged."""

DEFAULT_BATCH_TIMEOUT_MS = 50
"""Milliseconds from a batch's first record to its flush at the latest."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchConfig:
    """Size and time limits of a batch.

    Attributes:
        max_records: flush a batch once it holds this many records; >= 1.
        timeout_ms: flush a batch at the latest this many milliseconds after its first record;
            >= 0.

    Raises:
        ValueError: a limit is out of range; the message names the key.
    """

    max_records: int = DEFAULT_BATCH_MAX_RECORDS
    timeout_ms: int = DEFAULT_BATCH_TIMEOUT_MS

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid batch config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every invalid setting, each message naming its key (empty when valid)."""
        found: list[str] = []
        if self.max_records < 1:
            found.append(f"max_records must be >= 1, got {self.max_records}")
        if self.timeout_ms < 0:
            found.append(f"timeout_ms must be >= 0, got {self.timeout_ms}")
        return found

    @property
    def timeout_s(self) -> float:
        """``timeout_ms`` in seconds."""
        return self.timeout_ms / 1000
