"""The receiver's Kafka producer (scale-out mode): observation records → the observations topic.

Records of one export are grouped by trace id; each group becomes one or more
``ObservationBatch`` messages keyed by the trace id (so all spans of a trace share a partition
and one processor), each kept below ``max_message_bytes``. One observation that alone exceeds
the limit is refused explicitly: it is reported in ``partial_success`` with its size, never
retried by the producer. The export succeeds only after the broker acknowledged every message
(``acks=all``). Broker unreachable, delivery timeout or producer buffer full raise
``RetryableError`` (503 + Retry-After / gRPC UNAVAILABLE).

Idempotence is off by default: redelivered records are harmless (ClickHouse rows are keyed by
id in ReplacingMergeTree tables), and some Kafka-API brokers (tansu) do not implement
InitProducerId. Turn it on with ``KafkaSettings.enable_idempotence`` on Apache Kafka.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ingest.telemetry import RECEIVER_METRICS
from storage.errors import RetryableError
from storage.records import KAFKA_CONTENT_TYPE, ObservationBatch, ObservationRecord

__all__ = ["KafkaPublisher", "PublisherSettings", "pack_messages"]

log = logging.getLogger(__name__)

_ENVELOPE_RESERVE = 512
"""Bytes kept free in each message for Kafka's record overhead (key, headers, framing)."""


@dataclass(frozen=True, slots=True)
class PublisherSettings:
    """Producer settings (see ``ingest.config.Settings`` for the environment variables)."""

    bootstrap_servers: str
    topic: str = "otelfuse.observations"
    max_message_bytes: int = 1_000_000
    """Largest message value in bytes; keep it below the broker's ``message.max.bytes``."""
    compression: str | None = "lz4"
    delivery_timeout_s: float = 10.0
    """An export fails with 503 when the broker has not acknowledged within this time."""
    max_in_flight_bytes: int = 64 * 1024 * 1024
    """Bytes sent but not yet acknowledged; beyond it exports get 503 (producer buffer full)."""
    enable_idempotence: bool = False
    client_id: str = "otelfuse-receiver"


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message: key (trace id) and value (serialized ``ObservationBatch``)."""

    key: bytes
    value: bytes
    records: int


def _varint_size(value: int) -> int:
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def pack_messages(
    records: Sequence[ObservationRecord], max_message_bytes: int
) -> tuple[list[Message], list[str]]:
    """Group records by trace id into messages of at most ``max_message_bytes``.

    Returns ``(messages, rejections)``: a rejection reason for each record too large for any
    message. Order of records within a trace is kept.
    """
    budget = max_message_bytes - _ENVELOPE_RESERVE
    by_trace: dict[str, list[ObservationRecord]] = {}
    for record in records:
        by_trace.setdefault(record.trace_id, []).append(record)
    messages: list[Message] = []
    rejections: list[str] = []
    for trace_id, group in by_trace.items():
        key = trace_id.encode()
        chunk: list[ObservationRecord] = []
        size = 0
        for record in group:
            length = record.ByteSize()
            framed = 1 + _varint_size(length) + length  # field 1, length-delimited
            if framed > budget:
                rejections.append(
                    f"observation {record.id} of trace {trace_id} is {length} bytes, over the "
                    f"{max_message_bytes}-byte Kafka message limit"
                )
                continue
            if chunk and size + framed > budget:
                messages.append(_message(key, chunk))
                chunk, size = [], 0
            chunk.append(record)
            size += framed
        if chunk:
            messages.append(_message(key, chunk))
    return messages, rejections


def _message(key: bytes, chunk: list[ObservationRecord]) -> Message:
    value = ObservationBatch(observations=chunk).SerializeToString()
    return Message(key, value, len(chunk))


class KafkaPublisher:
    """``RecordSink`` that publishes observation records to Kafka (see module docstring)."""

    def __init__(self, settings: PublisherSettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._in_flight_bytes = 0

    async def start(self) -> None:
        """Connect to the brokers.

        Raises:
            RetryableError: the brokers cannot be reached.
        """
        s = self.settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers,
            client_id=s.client_id,
            acks="all",
            compression_type=s.compression,
            max_request_size=s.max_message_bytes,
            max_batch_size=max(s.max_message_bytes, 16384),
            linger_ms=5,
            request_timeout_ms=int(s.delivery_timeout_s * 1000),
            enable_idempotence=s.enable_idempotence,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise RetryableError(f"cannot reach Kafka at {s.bootstrap_servers}: {exc}") from exc
        self._producer = producer

    async def stop(self) -> None:
        """Flush what was sent and close the producer. Safe to call twice."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    def has_room(self, records: int = 1) -> bool:
        """False while the producer buffer holds ``max_in_flight_bytes`` or more."""
        return (
            self._producer is not None and self._in_flight_bytes < self.settings.max_in_flight_bytes
        )

    async def submit(self, records: Sequence[ObservationRecord]) -> list[str]:
        """Publish ``records``; return rejection reasons for records too large to publish.

        Returns after the broker acknowledged every message.

        Raises:
            RetryableError: not started, buffer full, broker error or delivery timeout.
        """
        producer = self._producer
        if producer is None:
            raise RetryableError("Kafka producer is not running")
        if not self.has_room():
            raise RetryableError("Kafka producer buffer full", retry_after_s=1.0)
        messages, rejections = pack_messages(records, self.settings.max_message_bytes)
        size = sum(len(m.value) for m in messages)
        self._in_flight_bytes += size
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await asyncio.wait_for(
                self._send_all(producer, messages), self.settings.delivery_timeout_s
            )
        except (KafkaError, TimeoutError) as exc:
            RECEIVER_METRICS.kafka_produce("failure", loop.time() - started)
            reason = str(exc) or type(exc).__name__
            raise RetryableError(f"Kafka did not acknowledge the export: {reason}") from exc
        finally:
            self._in_flight_bytes -= size
        RECEIVER_METRICS.kafka_produce("success", loop.time() - started)
        return rejections

    async def _send_all(self, producer: AIOKafkaProducer, messages: list[Message]) -> None:
        headers = [("content-type", KAFKA_CONTENT_TYPE.encode())]
        deliveries = [
            await producer.send(self.settings.topic, m.value, key=m.key, headers=headers)
            for m in messages
        ]
        await asyncio.gather(*deliveries)
