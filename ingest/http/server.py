"""The HTTP server every role runs: uvicorn serving the role's ASGI app (``create_app``),
started and stopped by the role (uvicorn's own signal handling is off, so the role decides the
shutdown order)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["HTTPServer"]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HTTPServer:
    """Serve ``app`` on ``host:port``."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
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
