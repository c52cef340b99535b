"""The scale-out roles (design.md, mode 2): ``receiver``, ``processor``, ``query``, ``migrate``.

- receiver: OTLP/gRPC + OTLP/HTTP, ``POST /api/public/scores`` and ``POST
  /api/public/ingestion`` → mapped records → Kafka (``KafkaPublisher``: observation and trace
  records to the observations topic, scores to the scores topic); a request succeeds once Kafka
  acknowledged it. HTTP also serves ``/api/public/health`` and ``/metrics``.
- processor: Kafka → merge ingestion events onto stored rows → enrich → ClickHouse, and scores
  → ClickHouse, committing offsets after the insert (``processors.kafka.consumer``). HTTP serves
  health and ``/metrics``, plus the query API when ``serve_query`` is set (needed with embedded
  ClickHouse: chdb allows one process per folder).
- query: the Langfuse read API over ClickHouse.
- migrate: apply ClickHouse migrations (and PostgreSQL ones) and exit.

With ``OTELFUSE_POSTGRES_URL`` every role authenticates against PostgreSQL API keys (the schema
must be migrated: roles other than ``migrate`` only check it), the processor prices custom
models first, and the query API also serves ``/api/public/models``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from ingest.api.ingestion import Ingestion
from ingest.api.read import read_routes
from ingest.api.scores import ScoreWrites
from ingest.app import bootstrap_from_settings, observation_step, open_postgres, print_new_keys
from ingest.config import Settings
from ingest.http.app import create_app
from ingest.http.server import HTTPServer
from ingest.kafka_publisher import KafkaPublisher, PublisherSettings
from ingest.otlp.export import TraceExport
from ingest.otlp.grpc_receiver import create_server
from ingest.otlp.http_receiver import OTLPHTTPReceiver
from ingest.storage import Storage
from processors.batch import WriteScores
from storage.auth import KeyStore
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.scores import ScoreWriter

if TYPE_CHECKING:
    from processors.kafka.consumer import RecordConsumer
    from storage.postgres import PostgresRuntime

__all__ = ["Processor", "Query", "Receiver", "migrate"]

log = logging.getLogger(__name__)


async def _open_keys(settings: Settings) -> tuple[KeyStore, PostgresRuntime | None]:
    """The role's key store: PostgreSQL's when ``postgres_url`` is set, else the settings'."""
    if settings.postgres_url:
        postgres = await open_postgres(settings, migrate=False)
        return postgres.keys, postgres
    bootstrap = bootstrap_from_settings(settings)
    if bootstrap.new_secret_key is not None:
        print_new_keys(bootstrap)
    return bootstrap.keys, None


def _query_routes(
    storage: Storage, keys: KeyStore, postgres: PostgresRuntime | None, settings: Settings
) -> list[BaseRoute]:
    """The read API, plus ``/api/public/models`` with PostgreSQL."""
    return read_routes(
        storage.repository,
        keys,
        max_request_bytes=settings.max_request_bytes,
        models=postgres.models if postgres is not None else None,
    )


class Receiver:
    """OTLP, scores and ingestion batches in, records to Kafka."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        s = settings
        self.publisher = KafkaPublisher(
            PublisherSettings(
                bootstrap_servers=s.kafka_bootstrap_servers,
                topic=s.kafka_observations_topic,
                scores_topic=s.kafka_scores_topic,
                max_message_bytes=s.kafka_max_message_bytes,
                compression=None if s.kafka_compression == "none" else s.kafka_compression,
                delivery_timeout_s=s.kafka_delivery_timeout_ms / 1000,
                enable_idempotence=s.kafka_enable_idempotence,
            )
        )
        self._grpc: object | None = None
        self._http: HTTPServer | None = None
        self._postgres: PostgresRuntime | None = None

    async def _health(self) -> str | None:
        return None if self.publisher.has_room() else "Kafka producer unavailable"

    async def start(self) -> None:
        """Connect to Kafka, then open both receivers.

        Raises:
            RetryableError: Kafka unreachable at start; RuntimeError: a port cannot be bound.
        """
        s = self.settings
        keys, self._postgres = await _open_keys(s)
        await self.publisher.start()
        export = TraceExport(self.publisher, keys)
        grpc_server = create_server(export, s.grpc_address, s.max_request_bytes)
        await grpc_server.start()
        self._grpc = grpc_server
        publisher, limit = self.publisher, s.max_request_bytes
        routes: list[BaseRoute] = [
            *OTLPHTTPReceiver(export, limit).routes(),
            *ScoreWrites(publisher, keys, limit).routes(),
            *Ingestion(publisher, publisher, keys, limit).routes(),
        ]
        app = create_app(routes, self._health)
        self._http = HTTPServer(app, *s.split_address(s.http_address))
        await self._http.start()
        log.info(
            "otelfuse receiver ready: OTLP/gRPC %s, OTLP/HTTP http://%s → Kafka %s topics %s, %s",
            s.grpc_address,
            s.http_address,
            s.kafka_bootstrap_servers,
            s.kafka_observations_topic,
            s.kafka_scores_topic,
        )

    async def stop(self) -> None:
        """Stop receiving (in-flight exports finish), then flush and close the producer."""
        if self._http is not None:
            await self._http.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace=5)  # type: ignore[attr-defined]
        await self.publisher.stop()
        if self._postgres is not None:
            await self._postgres.close()
        self._http = self._grpc = self._postgres = None


class Processor:
    """Kafka in, ingestion merges, usage and cost, batches (and scores) into ClickHouse;
    optionally the query API too."""

    def __init__(self, settings: Settings, *, serve_query: bool = False) -> None:
        self.settings = settings
        self.serve_query = serve_query
        self._storage: Storage | None = None
        self._consumer: RecordConsumer | None = None
        self._run: asyncio.Task[None] | None = None
        self._http: HTTPServer | None = None
        self._postgres: PostgresRuntime | None = None

    async def _health(self) -> str | None:
        running = self._run is not None and not self._run.done()
        return None if running else "consumer stopped"

    async def start(self) -> None:
        """Open ClickHouse, start consuming, then serve HTTP."""
        from processors.batching import BatchConfig
        from processors.kafka.config import ConsumerConfig
        from processors.kafka.consumer import RecordConsumer

        s = self.settings
        keys, self._postgres = await _open_keys(s)
        self._storage = storage = await Storage.open(s, migrate=False)
        process, writer = await observation_step(s, storage, self._postgres)
        self._consumer = RecordConsumer(
            ConsumerConfig(
                bootstrap_servers=s.kafka_bootstrap_servers,
                observations_topic=s.kafka_observations_topic,
                scores_topic=s.kafka_scores_topic,
                dead_letter_topic=s.kafka_dead_letter_topic,
                group_id=s.kafka_consumer_group,
                batch=BatchConfig(max_records=s.batch_max_records, timeout_ms=s.batch_timeout_ms),
            ),
            process,
            process_scores=WriteScores(ScoreWriter(storage.engine, s.clickhouse_database)),
            on_assign=writer.clear_cache,
        )
        self._run = asyncio.create_task(self._consumer.run(), name="otelfuse-consumer")
        # health answers for the consumer, also with the query API
        routes = _query_routes(storage, keys, self._postgres, s) if self.serve_query else []
        app = create_app(routes, self._health)
        self._http = HTTPServer(app, *s.split_address(s.http_address))
        await self._http.start()
        log.info(
            "otelfuse processor ready: Kafka %s topics %s, %s group %s; HTTP http://%s%s",
            s.kafka_bootstrap_servers,
            s.kafka_observations_topic,
            s.kafka_scores_topic,
            s.kafka_consumer_group,
            s.http_address,
            " (with query API)" if self.serve_query else "",
        )

    async def stop(self) -> None:
        """Finish the batch in progress, commit, leave the group, then close ClickHouse."""
        if self._consumer is not None:
            await self._consumer.stop()
        if self._run is not None:
            await self._run
        if self._http is not None:
            await self._http.stop()
        if self._storage is not None:
            await self._storage.close()
        if self._postgres is not None:
            await self._postgres.close()
        self._consumer = self._run = self._http = self._storage = self._postgres = None


class Query:
    """The Langfuse read API over ClickHouse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._storage: Storage | None = None
        self._http: HTTPServer | None = None
        self._postgres: PostgresRuntime | None = None

    async def start(self) -> None:
        s = self.settings
        keys, self._postgres = await _open_keys(s)
        self._storage = storage = await Storage.open(s, migrate=False)
        app = create_app(_query_routes(storage, keys, self._postgres, s), storage.health)
        self._http = HTTPServer(app, *s.split_address(s.http_address))
        await self._http.start()
        log.info("otelfuse query API ready: http://%s", s.http_address)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.stop()
        if self._storage is not None:
            await self._storage.close()
        if self._postgres is not None:
            await self._postgres.close()
        self._http = self._storage = self._postgres = None


async def migrate(settings: Settings) -> list[str]:
    """Apply pending ClickHouse migrations, then PostgreSQL ones when ``postgres_url`` is set;
    returns their names (PostgreSQL ones prefixed ``postgres:``)."""
    storage = await Storage.open(settings, migrate=False)
    try:
        applied = await asyncio.to_thread(
            apply_migrations, storage.engine, settings.clickhouse_database
        )
    finally:
        await storage.close()
    if settings.postgres_url:
        from storage.postgres import apply_migrations as apply_postgres_migrations
        from storage.postgres import create_pool

        pool = await create_pool(settings.postgres_url, max_size=1)
        try:
            applied += [f"postgres:{name}" for name in await apply_postgres_migrations(pool)]
        finally:
            await pool.close()
    return applied
