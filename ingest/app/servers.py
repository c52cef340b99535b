"""Starting a role's servers on an exit stack, so they stop in reverse order."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from starlette.routing import BaseRoute

from ingest.app.settings import Settings, split_address
from ingest.http.app import HealthCheck, create_app
from ingest.http.server import HTTPServer
from ingest.otlp.export import TraceExport
from ingest.otlp.logs_export import LogsExport

__all__ = ["GRPC_GRACE_S", "start_grpc", "start_http"]

GRPC_GRACE_S = 5.0
"""Seconds in-flight gRPC exports get to finish on stop."""


async def start_http(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    routes: Sequence[BaseRoute],
    health: HealthCheck,
) -> HTTPServer:
    """Serve ``create_app(routes, health)`` on ``server.http_address`` until ``stack`` closes.

    Raises:
        RuntimeError: the address cannot be bound.
    """
    server = HTTPServer(create_app(routes, health), *split_address(settings.server.http_address))
    await server.start()
    stack.push_async_callback(server.stop)
    return server


async def start_grpc(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    export: TraceExport,
    logs: LogsExport | None = None,
) -> None:
    """Serve OTLP/gRPC on ``server.grpc_address`` until ``stack`` closes: traces, and logs when
    ``logs`` is given.

    gRPC is imported here: the all-in-one owner with worker processes never serves it (its
    workers do) and so does without grpcio (docs/benchmarks.md "Idle memory with workers,
    fourth round").

    Raises:
        RuntimeError: the address cannot be bound.
    """
    from ingest.otlp.grpc_receiver import create_server
    from ingest.otlp.logs_grpc import logs_handler

    handlers = () if logs is None else (logs_handler(logs),)
    server = create_server(
        export, settings.server.grpc_address, settings.server.max_request_bytes, handlers
    )
    await server.start()
    stack.push_async_callback(server.stop, GRPC_GRACE_S)
