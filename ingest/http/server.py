"""The HTTP server every role runs: uvicorn serving the role's ASGI app (``create_app``),
started and stopped by the role (uvicorn's own signal handling is off, so the role decides the
shutdown order).

Limits (issue 15 item 3; docs/operations.md "Limits"), each set deliberately instead of left to
uvicorn's defaults (uvicorn documentation, "Settings": Resource Limits, Timeouts):

- ``HEADER_TIMEOUT_S``: a connection whose request line and headers are not complete this long
  after it opened (or, on a kept connection, after the first bytes of its next request) is
  closed without an answer; an idle kept connection is left to ``KEEP_ALIVE_S``. uvicorn has no
  such timeout: a client sending its headers byte by byte ("slowloris") held its connection, and
  a file descriptor, forever, until ``accept()`` failed for everyone. The timeout is the one
  piece uvicorn lacks, added by ``_H11Protocol``: uvicorn's own h11 protocol class, with a
  timer armed when a request head is awaited (at the connection's start, then at the first
  bytes after each response) and checked against h11's state (``their_state is
  IDLE``: the head has not arrived). The same idea as nginx's ``client_header_timeout`` and Go's
  ``http.Server.ReadHeaderTimeout``. The body is read by the routes, under their own limits
  (``ingest/http/body.py``).
- ``MAX_CONNECTIONS`` (``limit_concurrency``): beyond this many open connections or running
  requests, uvicorn answers 503 (retryable for OTLP exporters) instead of running the app.
- ``KEEP_ALIVE_S`` (``timeout_keep_alive``): an idle keep-alive connection is closed after this
  long; longer than the 5 s export interval of the OpenTelemetry batch span processor (so an
  exporter does not race the close) and than the 60 s idle timeout of common load balancers (so
  they close first).
- ``MAX_HEADER_BYTES`` (``h11_max_incomplete_event_size``): a request head larger than this is
  answered 400.
- ``BACKLOG``: connections the kernel queues before ``accept()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator, Sequence

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "BACKLOG",
    "HEADER_TIMEOUT_S",
    "KEEP_ALIVE_S",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "HTTPServer",
]

HEADER_TIMEOUT_S = 10.0
"""Seconds a connection may take to send a complete request head."""
MAX_CONNECTIONS = 1000
"""Open connections (or running requests) above which requests are answered 503."""
KEEP_ALIVE_S = 65
"""Seconds an idle keep-alive connection stays open."""
MAX_HEADER_BYTES = 64 * 1024
"""Largest request line plus headers, in bytes."""
BACKLOG = 2048
"""Pending connections the kernel queues (``listen()`` backlog; uvicorn's default)."""


class _H11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus ``HEADER_TIMEOUT_S`` (module docstring)."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self.conn.their_state is h11.IDLE:
            self._await_head()  # the first bytes of the next request on a kept connection
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._stop_head_timer()
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            self._await_head()  # part of a pipelined head is already here
        # else idle until the next request's first bytes: the keep-alive timeout rules

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HTTPServer:
    """Serve ``app`` on ``host:port`` with the limits of the module docstring; or, when
    ``sockets`` are given, on those already bound sockets (a TCP socket the all-in-one owner
    bound for one of its worker processes, or a Unix socket) instead of binding; asyncio's
    ``create_server(sock=...)`` calls ``listen()`` on them."""

    def __init__(
        self, app: ASGIApp, host: str, port: int, *, sockets: Sequence[socket.socket] = ()
    ) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http=_H11Protocol,
            lifespan="off",
            access_log=False,
            log_level="warning",
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=KEEP_ALIVE_S,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            backlog=BACKLOG,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self._sockets = list(sockets) or None
        self.address = f"{host}:{port}"

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            RuntimeError: the address cannot be bound.
        """
        self._task = asyncio.create_task(
            self._server.serve(self._sockets), name=f"http {self.address}"
        )
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
