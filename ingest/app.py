"""All-in-one mode: receivers, processor and query API in one process (design.md, mode 1).

Wiring, in data-flow order::

    OTLP/gRPC :4317 ─┐
    OTLP/HTTP :4318 ─┴─> TraceExport (auth, admission, mapping) ─> Pipeline (bounded queue,
        size-or-time batches) ─> Enricher (usage, tokens, cost) ─> ClickHouseWriter
    query API on :4318 <─ Repository <─ ClickHouse (embedded chdb unless a URL is set)

Start order is storage first, receivers last; stop order is the reverse, so every export that
was accepted is written before the process exits.
"""

from __future__ import annotations

import asyncio
import logging

from ingest.config import Settings
from ingest.export import TraceExport
from ingest.http_server import HTTPServer
from ingest.otlp_grpc import create_server
from ingest.otlp_http import OTLPHTTPReceiver
from ingest.storage import Storage
from ingest.telemetry import RECEIVER_METRICS
from processors.batch import EnrichAndWrite
from processors.enrich import default_enricher
from processors.pipeline import Pipeline
from storage.clickhouse.writer import ClickHouseWriter
from storage.projects import InitProject, ProjectBootstrap, bootstrap_project
from storage.query.api import query_routes

__all__ = ["AllInOne", "bootstrap_from_settings"]

log = logging.getLogger(__name__)


def bootstrap_from_settings(settings: Settings) -> ProjectBootstrap:
    """The project and key store from ``OTELFUSE_INIT_PROJECT_*`` or the data folder.

    Raises:
        ValueError: only some of the three initial-project settings are set.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return bootstrap_project(
        settings.data_dir,
        InitProject(
            settings.init_project_id,
            settings.init_project_public_key,
            settings.init_project_secret_key,
        ),
    )


class AllInOne:
    """The all-in-one service; ``async with AllInOne(settings) as service: ...``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bootstrap: ProjectBootstrap | None = None
        self._storage: Storage | None = None
        self._pipeline: Pipeline | None = None
        self._grpc: object | None = None
        self._http: HTTPServer | None = None

    async def __aenter__(self) -> AllInOne:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open storage, run migrations, start the pipeline, then both receivers.

        Raises:
            ValueError: bad project settings; RuntimeError: a port cannot be bound.
        """
        s = self.settings
        self.bootstrap = bootstrap_from_settings(s)
        self._storage = storage = await Storage.open(s, migrate=True)
        writer = ClickHouseWriter(storage.engine, database=s.clickhouse_database)
        enricher = await asyncio.to_thread(default_enricher, s.data_dir)
        self._pipeline = Pipeline(
            EnrichAndWrite(enricher, writer),
            max_queued_records=s.queue_max_records,
            max_batch_records=s.batch_max_records,
            batch_timeout_s=s.batch_timeout_ms / 1000,
        )
        await self._pipeline.start()
        pipeline = self._pipeline
        RECEIVER_METRICS.watch_queue(lambda: pipeline.queued_records, pipeline.capacity)

        export = TraceExport(self._pipeline, self.bootstrap.keys)
        grpc_server = create_server(export, s.grpc_address, s.max_request_bytes)
        await grpc_server.start()
        self._grpc = grpc_server
        routes = [
            *OTLPHTTPReceiver(export, s.max_request_bytes).routes(),
            *query_routes(storage.repository, self.bootstrap.keys),
        ]
        self._http = HTTPServer(routes, *s.split_address(s.http_address))
        await self._http.start()
        log.info(
            "otelfuse all-in-one ready: OTLP/gRPC %s, OTLP/HTTP + query API http://%s",
            s.grpc_address,
            s.http_address,
        )

    async def stop(self) -> None:
        """Stop receivers (in-flight exports finish), flush the pipeline, close storage."""
        if self._http is not None:
            await self._http.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace=5)  # type: ignore[attr-defined]
        if self._pipeline is not None:
            await self._pipeline.stop()
        if self._storage is not None:
            await self._storage.close()
        self._http = self._grpc = self._pipeline = self._storage = None
