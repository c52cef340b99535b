"""All-in-one mode: receivers, processor and query API in one process (design.md, mode 1).

Wiring, in data-flow order::

    OTLP/gRPC :4317 ─┐
    OTLP/HTTP :4318 ─┴─> TraceExport (auth, admission, mapping) ─> Pipeline (bounded queue,
        size-or-time batches) ─> Enricher (usage, tokens, cost) ─> ClickHouseWriter (chdb)
    query API on :4318 <─ Repository <─ chdb

Start order is storage first, receivers last; stop order is the reverse, so every export that
was accepted is written before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
from prometheus_client import make_asgi_app
from starlette.applications import Starlette
from starlette.routing import Mount

from ingest.config import Settings
from ingest.export import TraceExport
from ingest.otlp_grpc import create_server
from ingest.otlp_http import OTLPHTTPReceiver
from processors.batch import EnrichAndWrite
from processors.enrich import default_enricher
from processors.pipeline import Pipeline
from storage.clickhouse.engine import ChdbEngine
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.writer import ClickHouseWriter
from storage.projects import InitProject, ProjectBootstrap, bootstrap_project
from storage.query.api import query_routes
from storage.query.repository import Repository

__all__ = ["AllInOne", "run_all_in_one"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``AllInOne`` owns shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AllInOne:
    """The all-in-one service; ``async with AllInOne(settings) as service: ...``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bootstrap: ProjectBootstrap | None = None
        self._engine: ChdbEngine | None = None
        self._pipeline: Pipeline | None = None
        self._grpc: object | None = None
        self._http: _Server | None = None
        self._http_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AllInOne:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open storage, run migrations, start the pipeline, then both receivers.

        Raises:
            ValueError: bad project settings; RuntimeError: a port cannot be bound.
        """
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.bootstrap = bootstrap_project(
            s.data_dir,
            InitProject(s.init_project_id, s.init_project_public_key, s.init_project_secret_key),
        )
        engine = await asyncio.to_thread(ChdbEngine, s.data_dir / "clickhouse")
        self._engine = engine
        applied = await asyncio.to_thread(apply_migrations, engine, s.clickhouse_database)
        if applied:
            log.info("applied ClickHouse migrations: %s", ", ".join(applied))
        writer = ClickHouseWriter(engine, database=s.clickhouse_database)
        enricher = await asyncio.to_thread(default_enricher, s.data_dir)
        self._pipeline = Pipeline(
            EnrichAndWrite(enricher, writer),
            max_queued_records=s.queue_max_records,
            max_batch_records=s.batch_max_records,
            batch_timeout_s=s.batch_timeout_ms / 1000,
        )
        await self._pipeline.start()

        export = TraceExport(self._pipeline, self.bootstrap.keys)
        repository = Repository(engine, database=s.clickhouse_database)
        routes = [
            *OTLPHTTPReceiver(export, s.max_request_bytes).routes(),
            *query_routes(repository, self.bootstrap.keys),
            Mount("/metrics", app=make_asgi_app()),
        ]
        grpc_server = create_server(export, s.grpc_address, s.max_request_bytes)
        await grpc_server.start()
        self._grpc = grpc_server

        host, port = s.split_address(s.http_address)
        config = uvicorn.Config(
            Starlette(routes=routes),
            host=host,
            port=port,
            lifespan="off",
            access_log=False,
            log_level="warning",
        )
        self._http = _Server(config)
        self._http_task = asyncio.create_task(self._http.serve(), name="otelfuse-http")
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
                raise RuntimeError(f"cannot bind HTTP receiver to {s.http_address}")
            await asyncio.sleep(0.02)
        log.info(
            "otelfuse all-in-one ready: OTLP/gRPC %s, OTLP/HTTP + query API http://%s",
            s.grpc_address,
            s.http_address,
        )

    async def stop(self) -> None:
        """Stop receivers (in-flight exports finish), flush the pipeline, close storage."""
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
        if self._grpc is not None:
            await self._grpc.stop(grace=5)  # type: ignore[attr-defined]
        if self._pipeline is not None:
            await self._pipeline.stop()
        if self._engine is not None:
            await asyncio.to_thread(self._engine.close)
        self._http = self._http_task = self._grpc = self._pipeline = self._engine = None


async def run_all_in_one(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then shut down in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AllInOne(settings) as service:
        bootstrap = service.bootstrap
        assert bootstrap is not None
        if bootstrap.new_secret_key is not None:
            print(
                "\nCreated project "
                f"{bootstrap.project.id}. Its API keys (the secret is shown only once):\n"
                f"  LANGFUSE_PUBLIC_KEY={bootstrap.public_key}\n"
                f"  LANGFUSE_SECRET_KEY={bootstrap.new_secret_key}\n",
                flush=True,
            )
        await stop.wait()
        log.info("shutting down")
