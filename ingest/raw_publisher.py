"""``RawPublisher``: the receiver role's ``RequestArchive`` (``ingest.archive_hook``): every
accepted request as an ``ArchivedRequest`` message on the raw topic (``otelfuse.raw``), keyed by
project id, acknowledged by the broker (``acks=all``) before the request is answered; the
``archiver`` role writes the objects (docs/archive-format.md "Writers").

Keying by project keeps one project's requests on one partition, so one archiver writes them in
arrival order (replay applies ingestion updates in that order). A request whose message would
exceed ``OTELFUSE_KAFKA_MAX_MESSAGE_BYTES`` (raw requests go up to ``max_request_bytes``, 64 MiB)
does not travel through Kafka: the receiver writes it straight to the blob store as an object of
its own (one frame), and answers once it is stored.
"""

from __future__ import annotations

from ingest.kafka import KafkaPublisher
from storage.archive import ArchivedRequest
from storage.archive.buffer import PendingObject
from storage.archive.format import object_key
from storage.archive.queue import write_object
from storage.blobs.store import BlobStore

__all__ = ["RAW_CONTENT_TYPE", "RawPublisher"]

RAW_CONTENT_TYPE = "application/x-protobuf; messageType=otelfuse.v1.ArchivedRequest"
"""Value of the ``content-type`` Kafka header on raw messages."""

_ENVELOPE_RESERVE = 1024


class RawPublisher:
    """Publishes archived requests to ``topic`` with the receiver's producer; oversized ones
    go straight to ``store``."""

    def __init__(self, publisher: KafkaPublisher, topic: str, store: BlobStore) -> None:
        self.publisher = publisher
        self.topic = topic
        self.store = store

    def has_room(self) -> bool:
        """The producer's buffer has room."""
        return self.publisher.has_room()

    async def submit(self, request: ArchivedRequest) -> None:
        """Publish ``request`` and wait for the broker's acknowledgement (or store it directly
        when it is too large for a message).

        Raises:
            RetryableError: Kafka or the blob store did not take it.
        """
        value = request.SerializeToString()
        if len(value) + _ENVELOPE_RESERVE > self.publisher.config.max_message_bytes:
            key = object_key(request.project_id, request.received_unix_nano)
            await write_object(self.store, PendingObject(key, [value], len(value)))
            return
        await self.publisher.publish(
            self.topic, RAW_CONTENT_TYPE, request.project_id.encode(), value
        )
