"""The receiver's Kafka producer (scale-out mode): records → the observations and scores topics.

Every record has a partition key: its trace id, so all spans of a trace share a partition and
one processor; a record without a trace id (an ingestion ``*-update`` event that omits
``traceId``) is keyed by its observation id, so its create and update events still share a
partition and stay in order. Score records (``ScoreBatch`` messages on the scores topic) are
keyed by the trace id of the score (else its session id, dataset run id, or id). The partition
of a key is the one Kafka's default partitioner picks (murmur2 of the key, as the Java client
and ``aiokafka.partitioner.DefaultPartitioner``; computed by ``ingest.mapping.partition``,
compiled with the span mapping), so the records of one export are grouped by
partition, not by key: each partition's records become one or more ``ObservationBatch``
messages sent to that partition, each kept below ``max_message_bytes`` and keyed by the key of
its first record (an export of 50 traces makes a message per partition, not 50 messages; the
processors read the records of a message, never its key; a message the processor can never
store is dead-lettered whole, so that unit is an export's records on one partition). Order of
the records of one key is kept. One record that alone exceeds the limit is refused
explicitly (its index and size are returned to the receiver, which reports it to the client:
``partial_success`` for spans, a per-event or per-item error for the JSON endpoints), never
retried by the producer. A submission succeeds only after the broker
acknowledged every message (``acks=all``). Broker unreachable, delivery timeout or producer
buffer full raise ``RetryableError`` (503 + Retry-After / gRPC UNAVAILABLE).

Compression defaults to zstd (level 3, aiokafka's): on the messages of ``bench.spans`` exports
it costs about 40 % less CPU than aiokafka's lz4, which always compresses at level 9 (LZ4 HC,
``aiokafka.codec.lz4_encode``), and its messages are about a third smaller
(docs/benchmarks.md, "Where the receiver's CPU goes outside the mapping").

Idempotence is off by default: redelivered records are harmless (ClickHouse rows are keyed by
id in ReplacingMergeTree tables), and some Kafka-API brokers (tansu) do not implement
InitProducerId. Turn it on with ``KafkaSettings.enable_idempotence`` on Apache Kafka.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ingest.mapping.partition import partition_of
from ingest.telemetry import RECEIVER_METRICS
from processors.kafka.config import PublisherConfig
from storage.errors import RetryableError
from storage.records import (
    KAFKA_CONTENT_TYPE,
    KAFKA_SCORES_CONTENT_TYPE,
    ObservationRecord,
    ScoreRecord,
    entry_head,
)

__all__ = [
    "KafkaPublisher",
    "observation_key",
    "pack_messages",
    "pack_score_messages",
    "partitioner",
    "score_key",
]

log = logging.getLogger(__name__)

_ENVELOPE_RESERVE = 512
"""Bytes kept free in each message for Kafka's record overhead (key, headers, framing)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message: partition key and value (serialized ``ObservationBatch`` or
    ``ScoreBatch``), with the number of records it holds and its partition (``None``: the
    producer's partitioner picks it from ``key``)."""

    key: bytes
    value: bytes
    records: int
    partition: int | None = None


Partitioner = Callable[[bytes], int]
"""The partition of a partition key (``partitioner``)."""


def partitioner(partitions: int) -> Partitioner:
    """The partition Kafka's default partitioner gives a key among ``partitions`` partitions
    (0 .. partitions - 1): aiokafka's ``DefaultPartitioner`` (``murmur2(key) & 0x7fffffff %
    partitions``, as the Java client's ``Utils.toPositive(Utils.murmur2(key)) %
    numPartitions``), the one the producer would use for a message sent without a partition
    (``ingest.mapping.partition.partition_of``)."""
    return functools.partial(partition_of, partitions=partitions)


R = TypeVar("R", ObservationRecord, ScoreRecord)


def observation_key(record: ObservationRecord) -> str:
    """Partition key of an observation record: its trace id, else its own id."""
    return record.trace_id or record.id


def score_key(record: ScoreRecord) -> str:
    """Partition key of a score: the first set of trace id, session id, dataset run id, id."""
    return record.trace_id or record.session_id or record.dataset_run_id or record.id


def _pack(
    records: Sequence[R],
    key_of: Callable[[R], str],
    kind: str,
    max_message_bytes: int,
    partition_of: Partitioner | None,
    encoded: Sequence[bytes] | None = None,
) -> tuple[list[Message], dict[int, str]]:
    """Group ``records`` into messages of at most ``max_message_bytes``: by partition
    (``partition_of`` of their ``key_of``), or by key when ``partition_of`` is ``None``;
    returns ``(messages, refused)``: the reason for each record too large for any message, by
    its index in ``records``. Each record is serialized once, or not at all when ``encoded``
    holds the serialization of each; a message value is the records' entries joined
    (``storage.records.batch_entry``: ``entry_head`` and the serialization, joined once)."""
    budget = max_message_bytes - _ENVELOPE_RESERVE
    groups: dict[str | int, list[tuple[int, str, R]]] = {}
    partitions: dict[str, int] = {}  # the hash once per key
    for index, record in enumerate(records):
        key_text = key_of(record)
        group_id: str | int = key_text
        if partition_of is not None:
            partition = partitions.get(key_text)
            if partition is None:
                partition = partitions[key_text] = partition_of(key_text.encode())
            group_id = partition
        groups.setdefault(group_id, []).append((index, key_text, record))
    messages: list[Message] = []
    refused: dict[int, str] = {}
    for group_id, members in groups.items():
        target = group_id if isinstance(group_id, int) else None
        key = b""
        chunk: list[bytes] = []  # head, serialization, head, ...
        size = 0
        for index, key_text, record in members:
            data = record.SerializeToString() if encoded is None else encoded[index]
            head = entry_head(len(data))
            framed = len(head) + len(data)
            if framed > budget:
                refused[index] = (
                    f"{kind} {record.id} (partition key {key_text}) is {len(data)} "
                    f"bytes, over the {max_message_bytes}-byte Kafka message limit"
                )
                continue
            if chunk and size + framed > budget:
                messages.append(Message(key, b"".join(chunk), len(chunk) // 2, target))
                chunk, size = [], 0
            if not chunk:
                key = key_text.encode()
            chunk.append(head)
            chunk.append(data)
            size += framed
        if chunk:
            messages.append(Message(key, b"".join(chunk), len(chunk) // 2, target))
    return messages, refused


def pack_messages(
    records: Sequence[ObservationRecord],
    max_message_bytes: int,
    partition_of: Partitioner | None = None,
    encoded: Sequence[bytes] | None = None,
) -> tuple[list[Message], dict[int, str]]:
    """Group observation records into ``ObservationBatch`` messages of at most
    ``max_message_bytes``: by the partition ``partition_of`` gives their ``observation_key``
    (each message names its partition), or, without ``partition_of``, by that key.
    ``encoded``: each record's serialization, when the caller has it (not serialized again).

    Returns ``(messages, refused)``: the reason for each record too large for any message, by
    its index in ``records``. Order of records within a key is kept.
    """
    return _pack(records, observation_key, "observation", max_message_bytes, partition_of, encoded)


def pack_score_messages(
    records: Sequence[ScoreRecord],
    max_message_bytes: int,
    partition_of: Partitioner | None = None,
) -> tuple[list[Message], dict[int, str]]:
    """Group score records by the partition of their ``score_key`` (or by that key) into
    ``ScoreBatch`` messages (as ``pack_messages``)."""
    return _pack(records, score_key, "score", max_message_bytes, partition_of)


class KafkaPublisher:
    """``RecordSink`` and ``ScoreSink`` that publishes observation and score records to Kafka
    (see module docstring)."""

    def __init__(self, config: PublisherConfig) -> None:
        self.config = config
        self._producer: AIOKafkaProducer | None = None
        self._in_flight_bytes = 0
        self._partitioners: dict[str, tuple[int, Partitioner]] = {}

    async def start(self) -> None:
        """Connect to the brokers.

        Raises:
            RetryableError: the brokers cannot be reached.
        """
        s = self.config
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers,
            client_id=s.client_id,
            acks="all",
            compression_type=None if s.compression == "none" else s.compression,
            max_request_size=s.max_message_bytes,
            max_batch_size=max(s.max_message_bytes, 16384),
            linger_ms=5,
            request_timeout_ms=s.delivery_timeout_ms,
            enable_idempotence=s.enable_idempotence,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise RetryableError(f"cannot reach Kafka at {s.bootstrap_servers}: {exc}") from exc
        self._producer = producer
        RECEIVER_METRICS.watch_producer_buffer(lambda: self._in_flight_bytes)

    async def stop(self) -> None:
        """Flush what was sent and close the producer. Safe to call twice."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    def has_room(self, records: int = 1) -> bool:
        """False while the producer buffer holds ``max_in_flight_bytes`` or more."""
        return (
            self._producer is not None and self._in_flight_bytes < self.config.max_in_flight_bytes
        )

    async def submit(self, records: Sequence[ObservationRecord]) -> dict[int, str]:
        """Publish observation ``records``; returns the reason for each record too large to
        publish, by index in ``records``, after the broker acknowledged every message.

        Raises:
            RetryableError: not started, buffer full, broker error or delivery timeout.
        """
        return await self.submit_encoded(records, None)

    async def submit_encoded(
        self, records: Sequence[ObservationRecord], encoded: Sequence[bytes] | None
    ) -> dict[int, str]:
        """As ``submit``, with each record's serialization in ``encoded`` when the caller has
        it (``ingest.sinks.EncodedRecordSink``), so the records are not serialized again.

        Raises:
            RetryableError: not started, buffer full, broker error or delivery timeout.
        """
        if not records:
            return {}
        topic = self.config.topic
        partition_of = await self._partitioner(topic)
        messages, refused = pack_messages(
            records, self.config.max_message_bytes, partition_of, encoded
        )
        await self._publish(topic, KAFKA_CONTENT_TYPE, messages)
        return refused

    async def submit_scores(self, records: Sequence[ScoreRecord]) -> dict[int, str]:
        """Publish score ``records`` to the scores topic; as ``submit``.

        Raises:
            RetryableError: not started, buffer full, broker error or delivery timeout.
        """
        if not records:
            return {}
        topic = self.config.scores_topic
        partition_of = await self._partitioner(topic)
        messages, refused = pack_score_messages(
            records, self.config.max_message_bytes, partition_of
        )
        await self._publish(topic, KAFKA_SCORES_CONTENT_TYPE, messages)
        return refused

    async def _partitioner(self, topic: str) -> Partitioner:
        """The default partitioner over ``topic``'s partitions (from the producer's metadata,
        fetched on first use, within the delivery timeout, and refreshed by aiokafka).

        Raises:
            RetryableError: not started, or the broker does not know the topic in time.
        """
        producer = self._producer
        if producer is None:
            raise RetryableError("Kafka producer is not running")
        try:
            partitions = await producer.partitions_for(topic)
        except KafkaError as exc:
            raise RetryableError(f"no Kafka metadata for topic {topic}: {exc}") from exc
        count = len(partitions)
        cached = self._partitioners.get(topic)
        if cached is None or cached[0] != count:
            cached = self._partitioners[topic] = (count, partitioner(count))
        return cached[1]

    async def publish(self, topic: str, content_type: str, key: bytes, value: bytes) -> None:
        """Publish one message (``value`` below ``max_message_bytes``) to ``topic``; returns
        once the broker acknowledged it (the raw archive's ``RawPublisher``).

        Raises:
            RetryableError: not started, buffer full, broker error or delivery timeout.
        """
        await self._publish(topic, content_type, [Message(key, value, 1)])

    async def _publish(self, topic: str, content_type: str, messages: list[Message]) -> None:
        producer = self._producer
        if producer is None:
            raise RetryableError("Kafka producer is not running")
        if not messages:
            return
        if not self.has_room():
            raise RetryableError("Kafka producer buffer full", retry_after_s=1.0)
        size = sum(len(m.value) for m in messages)
        self._in_flight_bytes += size
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await asyncio.wait_for(
                self._send_all(producer, topic, content_type, messages),
                self.config.delivery_timeout_ms / 1000,
            )
        except (KafkaError, TimeoutError) as exc:
            RECEIVER_METRICS.kafka_produce("failure", loop.time() - started)
            reason = str(exc) or type(exc).__name__
            raise RetryableError(f"Kafka did not acknowledge the records: {reason}") from exc
        finally:
            self._in_flight_bytes -= size
        RECEIVER_METRICS.kafka_produce("success", loop.time() - started)

    @staticmethod
    async def _send_all(
        producer: AIOKafkaProducer, topic: str, content_type: str, messages: list[Message]
    ) -> None:
        headers = [("content-type", content_type.encode())]
        deliveries = [
            await producer.send(topic, m.value, key=m.key, partition=m.partition, headers=headers)
            for m in messages
        ]
        await asyncio.gather(*deliveries)
