"""The archiver role (``otelfuse archiver``): the raw topic → archive objects in the blob store
(``processors.kafka.archiver.RawArchiver``: commit after the objects are written). It scales
like the processor: more instances in the same consumer group share the partitions. HTTP
serves health (the consumer runs) and ``/metrics`` (``otelfuse_archive_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ingest.app.media import open_blobs
from ingest.app.servers import start_http
from ingest.app.service import StackedService
from ingest.app.settings import Settings
from processors.kafka.archiver import RawArchiver

__all__ = ["Archiver"]

log = logging.getLogger(__name__)


class Archiver(StackedService):
    """Raw requests from Kafka into archive objects."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self._run: asyncio.Task[None] | None = None

    async def _health(self) -> str | None:
        running = self._run is not None and not self._run.done()
        return None if running else "archiver stopped"

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        """Open the blob store (creating the bucket), start consuming, serve HTTP.

        Raises:
            RetryableError / PermanentError: the bucket cannot be created; RuntimeError: the
                HTTP port cannot be bound.
        """
        s = self.settings
        store = await open_blobs(s, stack, create=True)
        archiver = RawArchiver(s.consumer, s.archive, store)
        self._run = run = asyncio.create_task(archiver.run(), name="otelfuse-archiver")

        async def finish() -> None:
            await archiver.stop()
            await run

        stack.push_async_callback(finish)
        await start_http(s, stack, [], self._health)
        log.info(
            "otelfuse archiver ready: Kafka %s topic %s group %s → %s blob store; HTTP http://%s",
            s.consumer.bootstrap_servers,
            s.archive.raw_topic,
            s.archive.archiver_group,
            store.kind,
            s.server.http_address,
        )
