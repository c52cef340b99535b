"""The receivers' claim check: oversized observation fields go to the blob store before the
records are published or queued (docs/architecture.md "Oversized fields";
``storage.blobs.claim_check`` holds the format and the read side).

``OffloadingSink`` wraps a role's record sink (the in-process ``Pipeline`` or the
``KafkaPublisher``), so every transport that hands records to it (OTLP traces and logs over
HTTP and gRPC, ``POST /api/public/ingestion``) offloads the same way without knowing about it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ingest.sinks import EncodedRecordSink, RecordSink
from ingest.telemetry import RECEIVER_METRICS
from storage.blobs.claim_check import offload_records
from storage.blobs.config import OffloadConfig
from storage.blobs.store import BlobStore
from storage.records import ObservationRecord

__all__ = ["RECORD_RESERVE_BYTES", "OffloadingSink"]

RECORD_RESERVE_BYTES = 8 * 1024
"""Bytes of a Kafka message kept free beside one record (envelope, key, framing)."""


class OffloadingSink:
    """A ``RecordSink`` that writes the oversized fields of the records to ``store`` (then
    replaces them by references) before handing the records to ``inner``.

    Args:
        inner: the role's sink.
        store: the role's blob store.
        config: the offload threshold (``OTELFUSE_BLOB_OFFLOAD_BYTES``).
        max_message_bytes: the Kafka message limit (``OTELFUSE_KAFKA_MAX_MESSAGE_BYTES``); a
            record larger than it less ``RECORD_RESERVE_BYTES`` after the per-field threshold
            has its largest remaining fields offloaded too.
    """

    def __init__(
        self, inner: RecordSink, store: BlobStore, config: OffloadConfig, max_message_bytes: int
    ) -> None:
        self.inner = inner
        self.store = store
        self.config = config
        self.max_record_bytes = max(max_message_bytes - RECORD_RESERVE_BYTES, 1)
        # checked once: a runtime protocol check costs ≈ 25 µs
        self._encoded_sink = inner if isinstance(inner, EncodedRecordSink) else None

    def has_room(self, records: int = 1) -> bool:
        """As the inner sink."""
        return self.inner.has_room(records)

    async def submit(self, records: Sequence[ObservationRecord]) -> Mapping[int, str]:
        """Offload, then submit to the inner sink; the records are changed in place. An
        ``EncodedRecordSink`` (the ``KafkaPublisher``) is handed the records' serializations
        too: serialized once here, they size the records for the claim check (instead of
        ``ByteSize``) and become the Kafka messages.

        Raises:
            RetryableError: the blob store is unavailable (nothing was handed on: 503 /
                UNAVAILABLE), or what the inner sink raises.
            PermanentError: the blob store refused a write, or what the inner sink raises.
        """
        encoded_sink = self._encoded_sink
        encoded = None if encoded_sink is None else [r.SerializeToString() for r in records]
        fields, size = await offload_records(
            records, self.store, self.config, self.max_record_bytes, encoded
        )
        RECEIVER_METRICS.offloaded(fields, size)
        if encoded_sink is None:
            return await self.inner.submit(records)
        return await encoded_sink.submit_encoded(records, encoded)
