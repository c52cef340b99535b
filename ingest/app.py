"""All-in-one mode: receivers, processor and query API in one process (design.md, mode 1).

Wiring, in data-flow order::

    OTLP/gRPC :4317 ─┐
    OTLP/HTTP :4318 ─┴─> TraceExport (auth, admission, mapping) ─> Pipeline (bounded queue,
        size-or-time batches) ─> Enricher (usage, tokens, cost) ─> ClickHouseWriter
    POST /api/public/ingestion ─> IngestionReceiver ─┬─> the same Pipeline, whose process step
        first merges partial records onto stored rows and applies trace-create records
        (processors.merge.MergeThenEnrichAndWrite)
                                                    └─> ScoreWriter (score-create events)
    POST /api/public/scores ─> ScoresReceiver ─> ScoreWriter (worker thread) ─> scores table
    query API on :4318 <─ Repository <─ ClickHouse (embedded chdb unless a URL is set)

With ``OTELFUSE_POSTGRES_URL``, projects and API keys come from PostgreSQL
(``PostgresKeyStore``), the Enricher prices custom models first (``PostgresEnricher``) and
``/api/public/models`` is served; without it the settings-based project and catalog prices.

Start order is storage first, receivers last; stop order is the reverse, so every export that
was accepted is written before the process exits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ingest.api.ingestion import Ingestion
from ingest.api.read import read_routes
from ingest.api.scores import ScoreWrites
from ingest.config import Settings
from ingest.http.app import create_app
from ingest.http.server import HTTPServer
from ingest.otlp.export import TraceExport
from ingest.otlp.grpc_receiver import create_server
from ingest.otlp.http_receiver import OTLPHTTPReceiver
from ingest.sinks import ThreadedScoreSink
from ingest.storage import Storage
from ingest.telemetry import RECEIVER_METRICS
from processors.batch import EnrichAndWrite
from processors.batching import BatchConfig
from processors.enrich import Enricher, default_enricher
from processors.merge import MergeThenEnrichAndWrite
from processors.pipeline import Pipeline, PipelineConfig
from storage.auth import KeyStore
from storage.clickhouse.observation_reader import ObservationReader
from storage.clickhouse.scores import ScoreWriter
from storage.clickhouse.writer import ClickHouseWriter
from storage.projects import InitProject, ProjectBootstrap, bootstrap_project

if TYPE_CHECKING:
    from storage.postgres import PostgresRuntime

__all__ = [
    "AllInOne",
    "bootstrap_from_settings",
    "enricher_for",
    "observation_step",
    "open_postgres",
    "print_new_keys",
]

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


def print_new_keys(bootstrap: ProjectBootstrap) -> None:
    """Print a just-generated key pair once (to stdout, never to the log)."""
    print(
        f"\nCreated project {bootstrap.project.id}. "
        "Its API keys (the secret is shown only once):\n"
        f"  LANGFUSE_PUBLIC_KEY={bootstrap.public_key}\n"
        f"  LANGFUSE_SECRET_KEY={bootstrap.new_secret_key}\n",
        flush=True,
    )


async def open_postgres(settings: Settings, *, migrate: bool) -> PostgresRuntime:
    """PostgreSQL metadata for a role (``settings.postgres_url`` must be set): pool, key store
    (``auth_cache_ttl_s``) and repositories; ``OTELFUSE_INIT_PROJECT_*``, when all three are
    set, are created in PostgreSQL if missing; nothing is generated otherwise.

    Raises:
        ValueError: only some of the three initial-project settings are set.
        RetryableError / PermanentError: PostgreSQL unreachable, refusing, or not migrated.
    """
    from storage.postgres import PostgresRuntime

    init = InitProject(
        settings.init_project_id, settings.init_project_public_key, settings.init_project_secret_key
    )
    given = [init.project_id, init.public_key, init.secret_key]
    if any(given) and not all(given):
        raise ValueError(
            "set all of OTELFUSE_INIT_PROJECT_ID, _PUBLIC_KEY and _SECRET_KEY, or none"
        )
    return await PostgresRuntime.open(
        settings.postgres_url,
        migrate=migrate,
        init=init if all(given) else None,
        auth_cache_ttl_s=settings.auth_cache_ttl_s,
    )


async def enricher_for(settings: Settings, postgres: PostgresRuntime | None) -> Enricher:
    """``default_enricher``, or with PostgreSQL custom models first (then the catalog) and
    prompt ids (``processors.postgres_enricher``; cache TTL ``model_cache_ttl_s``)."""
    if postgres is None:
        return await asyncio.to_thread(default_enricher, settings.data_dir)
    from processors.postgres_enricher import postgres_enricher
    from storage.postgres.pool import LoopBridge

    bridge = LoopBridge(asyncio.get_running_loop())
    return await asyncio.to_thread(
        postgres_enricher,
        settings.data_dir,
        postgres.models,
        postgres.prompts,
        bridge,
        ttl_s=settings.model_cache_ttl_s,
    )


async def observation_step(
    settings: Settings, storage: Storage, postgres: PostgresRuntime | None
) -> tuple[MergeThenEnrichAndWrite, ClickHouseWriter]:
    """The process step for observation records, in both modes: merge ingestion events onto
    stored rows, apply trace records, enrich (``enricher_for``), write. Returns the step and its
    writer, whose ``clear_cache`` a Kafka consumer calls after a partition assignment."""
    database = settings.clickhouse_database
    writer = ClickHouseWriter(storage.engine, database=database)
    enricher = await enricher_for(settings, postgres)
    step = MergeThenEnrichAndWrite(
        EnrichAndWrite(enricher, writer), ObservationReader(storage.engine, database), writer
    )
    return step, writer


class AllInOne:
    """The all-in-one service; ``async with AllInOne(settings) as service: ...``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bootstrap: ProjectBootstrap | None = None
        self._storage: Storage | None = None
        self._postgres: PostgresRuntime | None = None
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
        keys: KeyStore
        if s.postgres_url:
            self._postgres = await open_postgres(s, migrate=True)
            keys = self._postgres.keys
        else:
            self.bootstrap = bootstrap_from_settings(s)
            keys = self.bootstrap.keys
        self._storage = storage = await Storage.open(s, migrate=True)
        database = s.clickhouse_database
        process, _ = await observation_step(s, storage, self._postgres)
        self._pipeline = Pipeline(
            process,
            PipelineConfig(
                max_queued_records=s.queue_max_records,
                batch=BatchConfig(max_records=s.batch_max_records, timeout_ms=s.batch_timeout_ms),
            ),
        )
        await self._pipeline.start()
        pipeline = self._pipeline
        RECEIVER_METRICS.watch_queue(lambda: pipeline.queued_records, pipeline.capacity)

        export = TraceExport(self._pipeline, keys)
        score_sink = ThreadedScoreSink(ScoreWriter(storage.engine, database))
        grpc_server = create_server(export, s.grpc_address, s.max_request_bytes)
        await grpc_server.start()
        self._grpc = grpc_server
        limit = s.max_request_bytes
        models = self._postgres.models if self._postgres is not None else None
        routes = [
            *OTLPHTTPReceiver(export, limit).routes(),
            *read_routes(storage.repository, keys, max_request_bytes=limit, models=models),
            *ScoreWrites(score_sink, keys, limit).routes(),
            *Ingestion(self._pipeline, score_sink, keys, limit).routes(),
        ]
        app = create_app(routes, storage.health)
        self._http = HTTPServer(app, *s.split_address(s.http_address))
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
        if self._postgres is not None:
            await self._postgres.close()
        self._http = self._grpc = self._pipeline = self._storage = self._postgres = None
