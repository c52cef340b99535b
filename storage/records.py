"""The record types that travel from receivers to processors (``proto/otelfuse/v1/records.proto``).

Generated code lives in ``storage/_pb`` (``make proto``); import the messages from here.
In all-in-one mode records are passed in memory; in scale-out mode an ``ObservationBatch`` is
the value of a message on the observations topic and a ``ScoreBatch`` the value of a message
on the scores topic.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError

from storage._pb.otelfuse.v1.records_pb2 import (
    ObservationBatch,
    ObservationRecord,
    ScoreBatch,
    ScoreRecord,
    TraceFields,
)
from storage.errors import PermanentError

__all__ = [
    "KAFKA_CONTENT_TYPE",
    "KAFKA_SCORES_CONTENT_TYPE",
    "LEVELS",
    "MAX_TIME_US",
    "MIN_TIME_US",
    "OBSERVATION_TYPES",
    "SCORE_DATA_TYPES",
    "SCORE_SOURCES",
    "ObservationBatch",
    "ObservationRecord",
    "ScoreBatch",
    "ScoreRecord",
    "TraceFields",
    "batch_entry",
    "decode_observation_batch",
    "decode_score_batch",
    "encode_observation_batch",
    "encode_score_batch",
    "entry_head",
]

OBSERVATION_TYPES: frozenset[str] = frozenset(
    {
        "SPAN",
        "GENERATION",
        "EVENT",
        "AGENT",
        "TOOL",
        "CHAIN",
        "RETRIEVER",
        "EVALUATOR",
        "EMBEDDING",
        "GUARDRAIL",
    }
)
"""Langfuse observation types (docs/reference/langfuse.md §1.7)."""

MIN_TIME_US = 100_000_000 * 1_000_000
"""Earliest storable time, Unix µs (1973-03-03): record times are validated against this range
at mapping time, so one bad span can never fail a batch at write time."""

MAX_TIME_US = 10_000_000_000 * 1_000_000 - 1
"""Latest storable time, Unix µs (2286-11-20)."""

LEVELS: frozenset[str] = frozenset({"DEBUG", "DEFAULT", "WARNING", "ERROR"})
"""Langfuse observation levels (docs/reference/langfuse.md §1.8)."""


SCORE_DATA_TYPES: frozenset[str] = frozenset(
    {"NUMERIC", "CATEGORICAL", "BOOLEAN", "CORRECTION", "TEXT"}
)
"""Langfuse score data types (docs/reference/langfuse.md §2.3, ``ScoreRecord.data_type``)."""

SCORE_SOURCES: frozenset[str] = frozenset({"API", "EVAL", "ANNOTATION"})
"""Langfuse score sources (docs/reference/langfuse.md §2.3, ``ScoreRecord.source``)."""


KAFKA_CONTENT_TYPE = "application/x-protobuf; messageType=otelfuse.v1.ObservationBatch"
"""Value of the ``content-type`` Kafka header on observation messages."""

KAFKA_SCORES_CONTENT_TYPE = "application/x-protobuf; messageType=otelfuse.v1.ScoreBatch"
"""Value of the ``content-type`` Kafka header on score messages."""


_BATCH_ENTRY_TAG = b"\x0a"
"""Field 1, wire type 2 (length-delimited): ``ObservationBatch.observations`` and
``ScoreBatch.scores`` are both field 1."""


def batch_entry(record: ObservationRecord | ScoreRecord) -> bytes:
    """One record serialized as an entry of its batch message: tag, length varint, record bytes.

    The concatenation of entries is a valid ``ObservationBatch`` / ``ScoreBatch`` (protobuf
    encoding of a repeated message field, https://protobuf.dev/programming-guides/encoding/), so
    a packer serializes each record once and sizes messages by ``len(entry)``, instead of
    ``ByteSize`` plus a batch that copies the records and serializes them again.
    """
    data = record.SerializeToString()
    return entry_head(len(data)) + data


def entry_head(length: int) -> bytes:
    """The bytes before a record of ``length`` bytes in its batch message (``batch_entry``):
    field tag, length varint. A packer handed records already serialized (the claim check
    sizes records by their encoding, ``ingest.offload.OffloadingSink``) joins heads and
    serializations without building each entry."""
    if length < 0x80:
        return _BATCH_ENTRY_TAG + bytes((length,))
    head = bytearray(_BATCH_ENTRY_TAG)
    while length >= 0x80:
        head.append((length & 0x7F) | 0x80)
        length >>= 7
    head.append(length)
    return bytes(head)


def encode_observation_batch(records: Sequence[ObservationRecord]) -> bytes:
    """Serialize records as one ``ObservationBatch`` (a Kafka message value, a worker's hand-off
    to the owner): the concatenation of their ``batch_entry``, each record serialized once
    (building an ``ObservationBatch`` copied every record into it first: twice the time)."""
    return b"".join(map(batch_entry, records))


def decode_observation_batch(value: bytes) -> list[ObservationRecord]:
    """Parse a Kafka message value written by ``encode_observation_batch``.

    Raises:
        PermanentError: the bytes are not an ``ObservationBatch`` (a poison record).
    """
    batch = ObservationBatch()
    try:
        batch.ParseFromString(value)
    except DecodeError as exc:
        raise PermanentError(f"undecodable ObservationBatch: {exc}") from None
    return list(batch.observations)


def encode_score_batch(records: Sequence[ScoreRecord]) -> bytes:
    """Serialize score records as one ``ScoreBatch`` (a Kafka message value), as
    ``encode_observation_batch``."""
    return b"".join(map(batch_entry, records))


def decode_score_batch(value: bytes) -> list[ScoreRecord]:
    """Parse a Kafka message value written by ``encode_score_batch``.

    Raises:
        PermanentError: the bytes are not a ``ScoreBatch`` (a poison record).
    """
    batch = ScoreBatch()
    try:
        batch.ParseFromString(value)
    except DecodeError as exc:
        raise PermanentError(f"undecodable ScoreBatch: {exc}") from None
    return list(batch.scores)
