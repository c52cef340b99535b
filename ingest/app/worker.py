"""One receiver worker process of the all-in-one (``OTELFUSE_WORKERS`` > 1): the worker side of
``ingest.app.workers``, started by the owner as ``python -m ingest.app.worker`` with a pickled
``WorkerSpec`` on stdin.

It serves OTLP traces and logs (HTTP on its own socket on the HTTP port, gRPC on the gRPC address
with ``SO_REUSEPORT``): credentials (PostgreSQL at the owner's URL), admission, the memory
limiter, decoding, mapping, the claim check (blob store), enrichment of the span records
(``ingest.sinks.EnrichingSink``: prices and prompts from PostgreSQL, as the owner's enricher)
and the raw archive happen here; the records and scores go to the owner
(``ingest.ipc.OwnerChannel``), which answers once they are written; its metrics go to the
owner's ``/metrics`` (``ingest.app.worker_metrics``). Any other HTTP request is forwarded to
the owner (``ingest.http.proxy``). It stops on SIGTERM (from the owner) or when the owner's
channel closes (the owner is gone); SIGINT is ignored, so Ctrl-C in a terminal stops the
owner, which stops its workers in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import sys

from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.routing import Mount

from ingest.app.archive import open_archive
from ingest.app.cli import PRIVATE_UMASK
from ingest.app.media import offloading, open_blobs
from ingest.app.metadata import open_postgres
from ingest.app.processing import enricher_for
from ingest.app.service import StackedService, freeze_started
from ingest.app.settings import split_address
from ingest.app.worker_metrics import PUSH_INTERVAL_S
from ingest.app.workers import WorkerSpec
from ingest.http.proxy import OwnerProxy
from ingest.http.server import HTTPServer
from ingest.ipc import OwnerChannel
from ingest.memory_limiter import MEMORY_LIMITER
from ingest.otlp.export import TraceExport
from ingest.otlp.grpc_receiver import create_server
from ingest.otlp.http_receiver import OTLPHTTPReceiver
from ingest.otlp.logs_export import LogsExport
from ingest.otlp.logs_grpc import logs_handler
from ingest.otlp.logs_http import OTLPHTTPLogsReceiver
from ingest.sinks import EnrichingSink
from storage.errors import PermanentError, RetryableError

__all__ = ["Worker", "main"]

log = logging.getLogger("ingest.app.worker")  # also when run as __main__

GRPC_GRACE_S = 5.0
"""Seconds in-flight gRPC exports get to finish on stop (as ``ingest.app.servers``)."""


WORKER_POSTGRES_CONNECTIONS = 2
"""Pool size of a worker's PostgreSQL connection (plus its revocation listener's one): keys,
custom models and prompts are read through caches, so two suffice, and the embedded server's 100
connections (PostgreSQL's default ``max_connections``) then hold the owner's 11 and 3 for each
of up to 29 workers (docs/operations.md "Sizing")."""


class Worker(StackedService):
    """The worker's parts, on one exit stack: channel to the owner, PostgreSQL, blob store,
    archive, gRPC, HTTP; ``channel.closed`` tells that the owner is gone."""

    def __init__(self, spec: WorkerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.channel = OwnerChannel(spec.channel_path)

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        spec, s = self.spec, self.spec.settings
        await self.channel.connect()
        stack.push_async_callback(self.channel.close)
        postgres = await open_postgres(
            s, spec.postgres_url, migrate=False, max_connections=WORKER_POSTGRES_CONNECTIONS
        )
        stack.push_async_callback(postgres.close)
        enriching = EnrichingSink(self.channel, await enricher_for(s, postgres))
        stack.push_async_callback(enriching.close)
        blobs = await open_blobs(s, stack, create=False)
        archive = await open_archive(s, stack, blobs)
        export = TraceExport(offloading(s, enriching, blobs), postgres.keys, self.channel, archive)
        logs = LogsExport(export, self.channel)
        limit = s.server.max_request_bytes
        grpc_server = create_server(
            export, s.server.grpc_address, limit, (logs_handler(logs),), reuse_port=True
        )
        await grpc_server.start()
        stack.push_async_callback(grpc_server.stop, GRPC_GRACE_S)
        proxy = OwnerProxy(spec.api_path)
        stack.push_async_callback(proxy.aclose)
        app = Starlette(
            routes=[
                *OTLPHTTPReceiver(export, limit).routes(),
                *OTLPHTTPLogsReceiver(logs, limit).routes(),
                Mount("/", app=proxy),
            ]
        )
        listening = socket.socket(fileno=spec.http_fd)
        http = HTTPServer(app, *split_address(s.server.http_address), sockets=[listening])
        await http.start()
        stack.push_async_callback(http.stop)
        await self.channel.hello(spec.index)
        pushing = asyncio.create_task(self._push_metrics(), name="otelfuse-worker-metrics")
        stack.push_async_callback(_cancel, pushing)

    async def _push_metrics(self) -> None:
        """Send this process's metrics to the owner every ``PUSH_INTERVAL_S``."""
        while True:
            with contextlib.suppress(RetryableError, PermanentError):
                await self.channel.push_metrics(self.spec.index, generate_latest())
            await asyncio.sleep(PUSH_INTERVAL_S)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _serve(spec: WorkerSpec) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    worker = Worker(spec)
    try:
        await worker.start()
        freeze_started()
        owner_gone = asyncio.create_task(worker.channel.closed.wait())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait((owner_gone, stopped), return_when=asyncio.FIRST_COMPLETED)
        owner_gone.cancel()
        stopped.cancel()
    finally:
        await worker.stop()


def main() -> int:
    """Read the ``WorkerSpec`` from stdin and serve until stopped; returns the exit code (1 when
    the start failed)."""
    spec: WorkerSpec = pickle.load(sys.stdin.buffer)
    settings = spec.settings
    logging.basicConfig(
        level=settings.log_level,
        format=f"%(asctime)s %(levelname)s worker-{spec.index} %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forwarded request
    os.umask(PRIVATE_UMASK)
    MEMORY_LIMITER.configure(settings.memory)
    try:
        asyncio.run(_serve(spec))
    except Exception as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
