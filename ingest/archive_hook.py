"""The receivers' hook into the raw archive (docs/archive-format.md): one small step at
admission and one after decoding, shared by the OTLP trace and logs exports, the Langfuse
ingestion batch and the score endpoint.

- ``admit``: before decoding, a full archive queue (all-in-one) refuses the request with the
  retryable ``Overloaded`` (503 + ``Retry-After`` / UNAVAILABLE), like a full ingest queue:
  backpressure, never a silently missing archive entry.
- ``archive``: builds the ``ArchivedRequest`` (request id, project, receive time, kind,
  transport, content type, body) and hands it to the ``RequestArchive``: the all-in-one's
  ``storage.archive.queue.ArchiveQueue`` returns at once (a background task writes objects);
  the receiver role's ``RawPublisher`` returns once Kafka acknowledged the message. The
  receivers run it concurrently with the record submission and answer only when both are done.

Projects listed in ``OTELFUSE_ARCHIVE_EXCLUDE_PROJECTS`` are never archived.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from processors.pipeline import Overloaded
from storage.archive import ArchiveConfig, ArchivedRequest

__all__ = ["JSON", "PROTOBUF", "ArchivedRequest", "Archiving", "RequestArchive"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class RequestArchive(Protocol):
    """Where archived requests go: ``ArchiveQueue`` (all-in-one) or ``RawPublisher``
    (receiver role)."""

    def has_room(self) -> bool:
        """False when a new request would be refused (checked before decoding)."""
        ...

    async def submit(self, request: ArchivedRequest) -> None:
        """Take ``request``; raises ``RetryableError`` when it cannot be kept (the client
        retries the whole request)."""
        ...


@dataclass(frozen=True, slots=True)
class Archiving:
    """The hook (module docstring): ``target`` filtered by ``config.archives(project)``."""

    target: RequestArchive
    config: ArchiveConfig

    def admit(self) -> None:
        """Raises ``Overloaded`` (retryable) while the archive cannot take more."""
        if not self.target.has_room():
            raise Overloaded("archive queue full, retry later", retry_after_s=1.0)

    async def archive(
        self,
        project_id: str,
        kind: ArchivedRequest.Kind,
        transport: str,
        content_type: str,
        body: bytes,
        *,
        received_ns: int | None = None,
        sdk_name: str = "",
        sdk_version: str = "",
    ) -> None:
        """Archive one accepted request (nothing for an opted-out project)."""
        if not self.config.archives(project_id):
            return
        request = ArchivedRequest(
            request_id=uuid.uuid4().bytes,
            project_id=project_id,
            received_unix_nano=time.time_ns() if received_ns is None else received_ns,
            kind=kind,
            transport=transport,
            content_type=content_type,
            body=body,
            sdk_name=sdk_name,
            sdk_version=sdk_version,
        )
        await self.target.submit(request)
