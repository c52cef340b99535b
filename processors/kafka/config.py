"""Settings of the processor's Kafka consumer (``processors.kafka.consumer.RecordConsumer``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConsumerConfig"]


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """Settings of ``RecordConsumer``; invalid values raise ``ValueError`` naming the key.

    Attributes:
        bootstrap_servers: ``host:port[,host:port…]`` of the Kafka cluster.
        topic: the observations topic (values are ``ObservationBatch`` messages).
        scores_topic: the scores topic (values are ``ScoreBatch`` messages); empty: scores are
            not consumed.
        dead_letter_topic: where permanently failing messages go; must exist.
        group_id: consumer group shared by all processors.
        client_id: Kafka client id (the dead-letter producer appends ``-dlq``).
        max_batch_records: flush a batch once it holds this many records.
        batch_timeout_ms: flush a batch at the latest this long after its first message.
        session_timeout_ms: the group drops a member that sent no heartbeat for this long.
        heartbeat_interval_ms: heartbeat period; below a third of ``session_timeout_ms``.
        max_poll_interval_ms: a member that did not fetch for this long leaves the group; must
            exceed ``backoff_max_seconds`` plus the time to process one batch.
        rebalance_timeout_ms: how long a rebalance waits for members to rejoin; covers the flush
            done in ``on_partitions_revoked``.
        backoff_initial_seconds: first wait after a retryable failure.
        backoff_max_seconds: longest wait between retries (the delay doubles up to it).
    """

    bootstrap_servers: str
    topic: str = "otelfuse.observations"
    scores_topic: str = ""
    dead_letter_topic: str = "otelfuse.observations.dlq"
    group_id: str = "otelfuse-processor"
    client_id: str = "otelfuse-processor"
    max_batch_records: int = 5_000
    batch_timeout_ms: int = 200
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    rebalance_timeout_ms: int = 60_000
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid consumer config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every invalid setting, each message naming its key (empty when valid)."""
        found: list[str] = []
        if not self.bootstrap_servers.strip():
            found.append("bootstrap_servers is empty")
        if not self.topic or not self.dead_letter_topic or not self.group_id:
            found.append("topic, dead_letter_topic and group_id must be set")
        if self.topic == self.dead_letter_topic:
            found.append(f"dead_letter_topic must differ from topic ({self.topic!r})")
        if self.scores_topic in (self.topic, self.dead_letter_topic):
            found.append(
                f"scores_topic ({self.scores_topic!r}) must differ from topic and dead_letter_topic"
            )
        if self.max_batch_records < 1:
            found.append(f"max_batch_records must be >= 1, got {self.max_batch_records}")
        if self.batch_timeout_ms < 0:
            found.append(f"batch_timeout_ms must be >= 0, got {self.batch_timeout_ms}")
        if not 0 < self.heartbeat_interval_ms < self.session_timeout_ms:
            found.append(
                f"heartbeat_interval_ms ({self.heartbeat_interval_ms}) must be > 0 and below "
                f"session_timeout_ms ({self.session_timeout_ms})"
            )
        if not 0 < self.backoff_initial_seconds <= self.backoff_max_seconds:
            found.append(
                f"backoff_initial_seconds ({self.backoff_initial_seconds}) must be > 0 and "
                f"<= backoff_max_seconds ({self.backoff_max_seconds})"
            )
        if self.backoff_max_seconds * 1000 >= self.max_poll_interval_ms:
            found.append(
                f"max_poll_interval_ms ({self.max_poll_interval_ms}) must exceed "
                f"backoff_max_seconds ({self.backoff_max_seconds}) in ms"
            )
        if self.rebalance_timeout_ms < self.session_timeout_ms:
            found.append(
                f"rebalance_timeout_ms ({self.rebalance_timeout_ms}) must be >= "
                f"session_timeout_ms ({self.session_timeout_ms})"
            )
        return found
