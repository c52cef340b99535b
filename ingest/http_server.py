"""The HTTP server every role runs: uvicorn serving a Starlette app, started and stopped by the
role (uvicorn's own signal handling is off, so the role decides the shutdown order)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ingest.http_metrics import QueryMetricsMiddleware

__all__ = ["HTTPServer"]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _metrics(request: Request) -> Response:
    """Prometheus text exposition of the default registry."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class HTTPServer:
    """Serve ``routes`` plus Prometheus ``/metrics`` on ``host:port``."""

    def __init__(self, routes: Sequence[BaseRoute], host: str, port: int) -> None:
        app = Starlette(
            routes=[*routes, Route("/metrics", _metrics)],
            middleware=[Middleware(QueryMetricsMiddleware)],
        )
        config = uvicorn.Config(
            app, host=host, port=port, lifespan="off", access_log=False, log_level="warning"
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self.address = f"{host}:{port}"

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            RuntimeError: the address cannot be bound.
        """
        self._task = asyncio.create_task(self._server.serve(), name=f"http {self.address}")
        while not self._server.started:
            if self._task.done():
                with contextlib.suppress(BaseException):
                    self._task.result()
                raise RuntimeError(f"cannot bind HTTP server to {self.address}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop accepting connections; in-flight requests finish. Safe to call twice."""
        if self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._task
            self._task = None
