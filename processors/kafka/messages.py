"""Fetched Kafka messages of the processor: decoding into records and the batch being collected.

A message value on the observations topic is one ``ObservationBatch``, on the scores topic one
``ScoreBatch`` (``storage.records``). A value that does not decode to at least one record is
poison: the message keeps its ``PermanentError`` and is dead-lettered by the consumer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from processors.kafka.dead_letter import DeadLetter
from storage.errors import PermanentError
from storage.records import (
    ObservationRecord,
    ScoreRecord,
    decode_observation_batch,
    decode_score_batch,
)

__all__ = ["FetchedMessage", "MessageBatch", "Record", "decode_message"]

Record = ObservationRecord | ScoreRecord
"""One decoded record of a message: an observation or a score."""


@dataclass(slots=True)
class FetchedMessage:
    """A fetched Kafka message and its decoded records, or why it cannot be decoded.

    Attributes:
        raw: the ``aiokafka`` ``ConsumerRecord`` (key and value ``bytes``, headers, offset).
        tp: its topic and partition.
        records: the decoded records; empty when ``error`` is set.
        error: why the value is poison (dead-lettered with the batch), else ``None``.
    """

    raw: Any  # aiokafka.structs.ConsumerRecord[bytes, bytes]
    tp: TopicPartition
    records: Sequence[Record]
    error: PermanentError | None = None

    def letter(self, error: BaseException) -> DeadLetter:
        """The message as a ``DeadLetter`` (original key, value and headers) failing with
        ``error``."""
        raw = self.raw
        return DeadLetter(
            raw.topic, raw.partition, raw.offset, raw.key, raw.value, raw.headers, error
        )


@dataclass(slots=True)
class MessageBatch:
    """Messages collected since the last flush, with per-partition offset bounds.

    ``records`` counts the records of all messages; ``started`` is the event-loop time (seconds)
    at which the first message was added (the batch timeout runs from it).
    """

    messages: list[FetchedMessage] = field(default_factory=list)
    records: int = 0
    started: float = 0.0
    first: dict[TopicPartition, int] = field(default_factory=dict)
    """Offset of the batch's first message per partition (where a retry rewinds to)."""
    next: dict[TopicPartition, int] = field(default_factory=dict)
    """Offset to commit per partition: last offset in the batch + 1."""

    def add(self, message: FetchedMessage, now: float) -> None:
        """Append ``message``; ``now`` (event-loop seconds) starts the batch when it is empty."""
        if not self.messages:
            self.started = now
        self.messages.append(message)
        self.records += len(message.records)
        self.first.setdefault(message.tp, message.raw.offset)
        self.next[message.tp] = message.raw.offset + 1

    def split(self, max_records: int, now: float) -> tuple[MessageBatch, MessageBatch]:
        """``(head, rest)``: head ends with the message that reaches ``max_records``.

        Messages keep their order, so head holds a prefix of every partition's messages and
        committing ``head.next`` never skips a message of ``rest``.
        """
        if self.records <= max_records:
            return self, MessageBatch()
        head, rest = MessageBatch(), MessageBatch()
        for message in self.messages:
            (head if head.records < max_records else rest).add(message, now)
        head.started = self.started
        return head, rest


def decode_message(raw: Any, tp: TopicPartition, scores_topic: str) -> FetchedMessage:
    """Decode ``raw`` (an ``aiokafka`` ``ConsumerRecord``) fetched from ``tp``.

    A message of ``scores_topic`` (when non-empty) holds a ``ScoreBatch``, any other an
    ``ObservationBatch``. Never raises: a tombstone, an undecodable value or one decoding to no
    record is returned with ``error`` set (a ``PermanentError``) and no records.
    """
    if raw.value is None:
        return FetchedMessage(raw, tp, [], PermanentError("message without a value (tombstone)"))
    is_score = bool(scores_topic) and tp.topic == scores_topic
    kind, article, items = (
        ("ScoreBatch", "a", "scores") if is_score else ("ObservationBatch", "an", "observations")
    )
    records: Sequence[Record]
    try:
        records = decode_score_batch(raw.value) if is_score else decode_observation_batch(raw.value)
    except PermanentError as exc:
        return FetchedMessage(raw, tp, [], exc)
    if not records:
        # protobuf parses b"" and bytes holding only unknown fields as an empty batch; the
        # receiver never sends one, so this is not ours: park it rather than drop it silently
        error = PermanentError(
            f"{kind} without {items} ({len(raw.value)} bytes): an empty value or not {article} "
            f"{kind}"
        )
        return FetchedMessage(raw, tp, [], error)
    return FetchedMessage(raw, tp, records)
