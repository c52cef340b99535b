"""All-in-one mode: receivers, processor and query API in one process (docs/architecture.md
"Deployment modes").

Wiring, in data-flow order::

    OTLP/gRPC :4317 ─┐
    OTLP/HTTP :4318 ─┴─> TraceExport (auth, admission, mapping) ─> Pipeline (bounded queue,
        size-or-time batches) ─> Enricher (usage, tokens, cost) ─> ClickHouseWriter
    POST /api/public/ingestion ─> Ingestion ─┬─> the same Pipeline, whose process step first
        merges partial records onto stored rows and applies trace-create records
        (processors.merge.MergeThenEnrichAndWrite)
                                             └─> ScoreWriter (score-create events)
    POST /api/public/scores ─> ScoreWrites ─> ScoreWriter (worker thread) ─> scores table
    every accepted request ─> ArchiveQueue ─> raw archive objects in the blob store
        (``ingest.app.archive``; off the answer path)
    Langfuse read API on :4318 <─ Repository <─ ClickHouse (embedded chdb unless a URL is set)

Projects, API keys, custom models and prompts live in PostgreSQL: ``OTELFUSE_POSTGRES_URL``, or
else an embedded server under the data folder (``ingest.app.metadata.open_metadata``); the
Enricher prices custom models first (``PostgresEnricher``) and ``/api/public/models``,
``/api/public/v2/prompts`` and the media API (``/api/public/media``, blobs in
``OTELFUSE_DATA_DIR/blobs`` or S3) are served.

With ``OTELFUSE_WORKERS`` = N > 1 the OTLP exports of both ports are served by N worker
processes instead (``ingest.app.workers``): they decode, authenticate, map and enrich the spans
(``ingest.sinks.EnrichingSink``), then hand the records to this process's Pipeline and score
writer (``ingest.ipc``) and forward every other HTTP request to this process's app over a
private Unix socket.

Start order is storage first (ClickHouse, whose lock makes the data folder this process's, then
PostgreSQL), receivers last, each pushed on one ``AsyncExitStack``; stop
closes the stack, so the order reverses and every export that was accepted is written before
the process exits.
"""

from __future__ import annotations

import contextlib
import logging
from functools import partial

from ingest.api.ingestion import Ingestion
from ingest.api.read import read_routes
from ingest.api.scores import ScoreWrites
from ingest.app.archive import open_archive
from ingest.app.clickhouse import Storage
from ingest.app.media import field_resolver, media_routes, offloading, open_blobs
from ingest.app.metadata import open_metadata, postgres_url
from ingest.app.processing import observation_step
from ingest.app.servers import start_grpc, start_http
from ingest.app.service import StackedService
from ingest.app.settings import Settings
from ingest.app.worker_metrics import WorkerMetrics
from ingest.app.workers import start_workers
from ingest.http.app import create_app
from ingest.otlp.export import TraceExport
from ingest.otlp.http_receiver import OTLPHTTPReceiver
from ingest.otlp.logs_export import LogsExport
from ingest.otlp.logs_http import OTLPHTTPLogsReceiver
from ingest.sinks import ThreadedScoreSink
from ingest.telemetry import RECEIVER_METRICS
from processors.pipeline import Pipeline
from storage.clickhouse.scores import ScoreWriter
from storage.query.deletion import delete_traces

__all__ = ["AllInOne"]

log = logging.getLogger(__name__)


class AllInOne(StackedService):
    """The all-in-one service; ``async with AllInOne(settings) as service: ...``."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        """Open the key store and storage (migrating both), start the pipeline, then both
        receivers."""
        s = self.settings
        storage = await Storage.open(s, migrate=True)  # holds the data folder (chdb's lock)
        stack.push_async_callback(storage.close)
        await storage.watch_memory(stack)
        url = await postgres_url(s, stack, owner=True)
        postgres = await open_metadata(s, stack, url)
        keys = postgres.keys
        process, writer = await observation_step(s, storage, postgres, stack)
        pipeline = Pipeline(process, s.pipeline)
        await pipeline.start()
        stack.push_async_callback(pipeline.stop)
        RECEIVER_METRICS.watch_queue(lambda: pipeline.queued_records, pipeline.capacity)

        score_sink = ThreadedScoreSink(ScoreWriter(storage.client, s.clickhouse.database))
        blobs = await open_blobs(s, stack, create=True)
        sink = offloading(s, pipeline, blobs)
        archive = await open_archive(s, stack, blobs)
        export = TraceExport(sink, keys, score_sink, archive)
        logs = LogsExport(export, score_sink)
        workers = s.server.workers > 1
        if not workers:
            await start_grpc(s, stack, export, logs)
        limit = s.server.max_request_bytes
        routes = [
            *OTLPHTTPReceiver(export, limit).routes(),
            *OTLPHTTPLogsReceiver(logs, limit).routes(),
            *read_routes(
                storage.repository,
                keys,
                max_request_bytes=limit,
                postgres=postgres,
                fields=field_resolver(s, blobs),
                delete_traces=writer.deleting(partial(delete_traces, storage.repository)),
            ),
            *ScoreWrites(score_sink, keys, limit, archive).routes(),
            *Ingestion(sink, score_sink, keys, limit, archive).routes(),
            *media_routes(s, blobs, keys, postgres),
        ]
        if workers:  # the workers serve both ports; they reach the owner's app privately
            metrics = WorkerMetrics()
            app = create_app(routes, storage.health, metrics.render)
            await start_workers(s, stack, app, pipeline, score_sink, url, metrics)
        else:
            await start_http(s, stack, routes, storage.health)
        log.info(
            "otelfuse all-in-one ready: OTLP/gRPC %s, OTLP/HTTP + query API http://%s",
            s.server.grpc_address,
            s.server.http_address,
        )
