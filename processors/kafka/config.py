"""Settings of the processor's Kafka consumer (``processors.kafka.consumer.RecordConsumer``)
and of the receiver's producer (``PublisherConfig``, used by ``ingest.kafka.KafkaPublisher``),
and the default topic and group names they share with the settings. Plain dataclasses, without
aiokafka: ``ingest.app.settings`` reads them in every process, also in the all-in-one's worker
processes, which never talk to Kafka and so never import aiokafka.

The timeouts map to the Kafka consumer configs of the same names (Apache Kafka documentation,
"Consumer Configs": ``session.timeout.ms``, ``heartbeat.interval.ms``, ``max.poll.interval.ms``;
``rebalance_timeout_ms`` is aiokafka's ``AIOKafkaConsumer`` argument).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.batching import BatchConfig

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_BACKOFF_INITIAL_S",
    "DEFAULT_BACKOFF_MAX_S",
    "DEFAULT_BOOTSTRAP_SERVERS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_DEAD_LETTER_TOPIC",
    "DEFAULT_GROUP_ID",
    "DEFAULT_HEARTBEAT_INTERVAL_MS",
    "DEFAULT_LAG_INTERVAL_S",
    "DEFAULT_MAX_POLL_INTERVAL_MS",
    "DEFAULT_OBSERVATIONS_TOPIC",
    "DEFAULT_REBALANCE_TIMEOUT_MS",
    "DEFAULT_SCORES_TOPIC",
    "DEFAULT_SESSION_TIMEOUT_MS",
    "ConsumerConfig",
    "PublisherConfig",
]

DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
"""``host:port`` of a local Kafka-API broker."""
DEFAULT_OBSERVATIONS_TOPIC = "otelfuse.observations"
"""Topic of ``ObservationBatch`` messages, partitioned by trace id (``ingest.kafka``)."""
DEFAULT_SCORES_TOPIC = "otelfuse.scores"
"""Topic of ``ScoreBatch`` messages, partitioned by trace id (``ingest.kafka``)."""
DEFAULT_DEAD_LETTER_TOPIC = "otelfuse.observations.dlq"
"""Topic of messages that failed permanently (``processors.kafka.dead_letter``)."""
DEFAULT_GROUP_ID = "otelfuse-processor"
"""Consumer group shared by all processors."""
DEFAULT_CLIENT_ID = "otelfuse-processor"
"""Kafka client id of the consumer (the dead-letter producer appends ``-dlq``)."""
DEFAULT_SESSION_TIMEOUT_MS = 10_000
DEFAULT_HEARTBEAT_INTERVAL_MS = 3_000
DEFAULT_MAX_POLL_INTERVAL_MS = 300_000
DEFAULT_REBALANCE_TIMEOUT_MS = 60_000
DEFAULT_BACKOFF_INITIAL_S = 0.5
"""Seconds of the first wait after a retryable failure."""
DEFAULT_BACKOFF_MAX_S = 30.0
"""Longest wait between retries, in seconds."""
DEFAULT_LAG_INTERVAL_S = 5.0
"""Seconds between two lag measurements (``processors.kafka.lag``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerConfig:
    """Settings of ``RecordConsumer``; invalid values raise ``ValueError`` naming the key.

    Attributes:
        bootstrap_servers: ``host:port[,host:port…]`` of the Kafka cluster.
        observations_topic: the observations topic (values are ``ObservationBatch`` messages).
        scores_topic: the scores topic (values are ``ScoreBatch`` messages); empty: scores are
            not consumed.
        dead_letter_topic: where permanently failing messages go; must exist.
        group_id: consumer group shared by all processors.
        client_id: Kafka client id (the dead-letter producer appends ``-dlq``).
        batch: when a batch is flushed (``max_records`` records, observations and scores
            alike, or ``timeout_ms`` after its first message).
        session_timeout_ms: the group drops a member that sent no heartbeat for this long.
        heartbeat_interval_ms: heartbeat period; below a third of ``session_timeout_ms``.
        max_poll_interval_ms: a member that did not fetch for this long leaves the group; must
            exceed ``backoff_max_s`` plus the time to process one batch.
        rebalance_timeout_ms: how long a rebalance waits for members to rejoin; covers the flush
            done in ``on_partitions_revoked``.
        backoff_initial_s: first wait after a retryable failure, in seconds.
        backoff_max_s: longest wait between retries, in seconds (the delay doubles up to it).
        lag_interval_s: seconds between two measurements of the lag gauges (the group's lag
            costs one OffsetFetch and one fetch per partition of the topics).
    """

    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS
    observations_topic: str = DEFAULT_OBSERVATIONS_TOPIC
    scores_topic: str = DEFAULT_SCORES_TOPIC
    dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC
    group_id: str = DEFAULT_GROUP_ID
    client_id: str = DEFAULT_CLIENT_ID
    batch: BatchConfig = field(default_factory=BatchConfig)
    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS
    heartbeat_interval_ms: int = DEFAULT_HEARTBEAT_INTERVAL_MS
    max_poll_interval_ms: int = DEFAULT_MAX_POLL_INTERVAL_MS
    rebalance_timeout_ms: int = DEFAULT_REBALANCE_TIMEOUT_MS
    backoff_initial_s: float = DEFAULT_BACKOFF_INITIAL_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    lag_interval_s: float = DEFAULT_LAG_INTERVAL_S

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid consumer config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every invalid setting, each message naming its key (empty when valid)."""
        found: list[str] = []
        if not self.bootstrap_servers.strip():
            found.append("bootstrap_servers is empty")
        if not self.observations_topic or not self.dead_letter_topic or not self.group_id:
            found.append("observations_topic, dead_letter_topic and group_id must be set")
        if self.observations_topic == self.dead_letter_topic:
            found.append(
                f"dead_letter_topic must differ from observations_topic "
                f"({self.observations_topic!r})"
            )
        if self.scores_topic in (self.observations_topic, self.dead_letter_topic):
            found.append(
                f"scores_topic ({self.scores_topic!r}) must differ from observations_topic and "
                "dead_letter_topic"
            )
        found += [f"batch.{problem}" for problem in self.batch.problems()]
        if not 0 < self.heartbeat_interval_ms < self.session_timeout_ms:
            found.append(
                f"heartbeat_interval_ms ({self.heartbeat_interval_ms}) must be > 0 and below "
                f"session_timeout_ms ({self.session_timeout_ms})"
            )
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            found.append(
                f"backoff_initial_s ({self.backoff_initial_s}) must be > 0 and "
                f"<= backoff_max_s ({self.backoff_max_s})"
            )
        if not self.lag_interval_s > 0:
            found.append(f"lag_interval_s ({self.lag_interval_s}) must be > 0")
        if self.backoff_max_s * 1000 >= self.max_poll_interval_ms:
            found.append(
                f"max_poll_interval_ms ({self.max_poll_interval_ms}) must exceed "
                f"backoff_max_s ({self.backoff_max_s}) in ms"
            )
        if self.rebalance_timeout_ms < self.session_timeout_ms:
            found.append(
                f"rebalance_timeout_ms ({self.rebalance_timeout_ms}) must be >= "
                f"session_timeout_ms ({self.session_timeout_ms})"
            )
        return found


COMPRESSIONS = ("none", "gzip", "lz4", "zstd", "snappy")
"""Values of ``PublisherConfig.compression`` (aiokafka's ``compression_type``, or none)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublisherConfig:
    """Settings of the receiver's producer, ``ingest.kafka.KafkaPublisher`` (environment
    variables: ``ingest.app.settings``; compression: the ``ingest.kafka`` module docstring).

    Raises:
        ValueError: an unknown ``compression``.
    """

    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS
    """Comma-separated host:port list of Kafka brokers."""
    topic: str = DEFAULT_OBSERVATIONS_TOPIC
    """Observation records (spans, ingestion events), keyed by trace id."""
    scores_topic: str = DEFAULT_SCORES_TOPIC
    """Score records, keyed by trace id."""
    max_message_bytes: int = 1_000_000
    """Largest message value in bytes; keep it below the broker's ``message.max.bytes`` (Apache
    Kafka's default is 1 MiB); one observation above it is refused in ``partial_success``."""
    compression: str = "zstd"
    """none, gzip, lz4, zstd or snappy (``ingest.kafka`` module docstring)."""
    delivery_timeout_ms: int = 10_000
    """An export fails with 503 when the broker has not acknowledged within this time."""
    max_in_flight_bytes: int = 64 * 1024 * 1024
    """Bytes sent but not yet acknowledged; beyond it exports get 503 (producer buffer full)."""
    enable_idempotence: bool = False
    """Idempotent producer (Apache Kafka); duplicates are harmless either way (rows keyed by id)."""
    client_id: str = "otelfuse-receiver"

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f"compression={self.compression!r} is not one of {', '.join(COMPRESSIONS)}"
            )
