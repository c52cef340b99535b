"""The processor role: Kafka → merge ingestion events onto stored rows → enrich → ClickHouse,
and scores → ClickHouse, committing offsets after the insert (``processors.kafka``). HTTP
serves health (the consumer runs) and ``/metrics``, plus the Langfuse read API with
``--query`` (needed with embedded ClickHouse: chdb allows one process per folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from starlette.routing import BaseRoute

from ingest.api.read import read_routes
from ingest.app.clickhouse import Storage
from ingest.app.media import field_resolver, media_routes, open_blobs
from ingest.app.metadata import open_role_metadata
from ingest.app.processing import observation_step
from ingest.app.servers import start_http
from ingest.app.service import StackedService
from ingest.app.settings import Settings
from processors.batch import WriteScores
from processors.kafka.consumer import RecordConsumer
from storage.clickhouse.scores import ScoreWriter
from storage.query.deletion import delete_traces

__all__ = ["Processor"]

log = logging.getLogger(__name__)


class Processor(StackedService):
    """Kafka in, ingestion merges, usage and cost, batches (and scores) into ClickHouse;
    optionally the read API too."""

    def __init__(self, settings: Settings, *, serve_query: bool = False) -> None:
        super().__init__()
        self.settings = settings
        self.serve_query = serve_query
        self._run: asyncio.Task[None] | None = None
        self._storage: Storage | None = None
        self._consumer: RecordConsumer | None = None

    async def _health(self) -> str | None:
        running = self._run is not None and not self._run.done()
        return None if running else "consumer stopped"

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        """Open ClickHouse, start consuming, then serve HTTP.

        Raises:
            RetryableError / PermanentError: ClickHouse or PostgreSQL cannot be opened;
                RuntimeError: the HTTP port cannot be bound.
        """
        s = self.settings
        postgres = await open_role_metadata(s, stack, "processor")
        keys = postgres.keys
        self._storage = storage = await Storage.open(s, migrate=False)
        stack.push_async_callback(storage.close)
        process, writer = await observation_step(s, storage, postgres, stack)
        self._consumer = consumer = RecordConsumer(
            s.consumer,
            process,
            process_scores=WriteScores(ScoreWriter(storage.client, s.clickhouse.database)),
            on_assign=writer.clear_cache,
        )
        self._run = run = asyncio.create_task(consumer.run(), name="otelfuse-consumer")
        stack.push_async_callback(_finish, consumer, run)
        routes: list[BaseRoute] = []
        if self.serve_query:
            limit = s.server.max_request_bytes
            blobs = await open_blobs(s, stack, create=False)
            routes = read_routes(
                storage.repository,
                keys,
                max_request_bytes=limit,
                postgres=postgres,
                fields=field_resolver(s, blobs),
                delete_traces=writer.deleting(partial(delete_traces, storage.repository)),
            )
            routes += media_routes(s, blobs, keys, postgres)
        await start_http(s, stack, routes, self._health)
        log.info(
            "otelfuse processor ready: Kafka %s topics %s, %s group %s; HTTP http://%s%s",
            s.consumer.bootstrap_servers,
            s.consumer.observations_topic,
            s.consumer.scores_topic,
            s.consumer.group_id,
            s.server.http_address,
            " (with query API)" if self.serve_query else "",
        )


async def _finish(consumer: RecordConsumer, run: asyncio.Task[None]) -> None:
    await consumer.stop()
    await run
