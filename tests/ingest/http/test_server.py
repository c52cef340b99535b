"""The HTTP server's own limits (``ingest.http.server``) over real sockets: the request-head
timeout applies while a head is awaited, not to an idle keep-alive connection."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ingest.http import server as http_server
from ingest.http.server import HTTPServer

HEAD_TIMEOUT_S = 0.5


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET / HTTP/1.1\r\nHost: otelfuse\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await asyncio.wait_for(reader.readexactly(len("hello")), 5)
    return head


async def _closed(reader: asyncio.StreamReader, within_s: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), within_s) == b""
    except TimeoutError:
        return False


@pytest.fixture
def short_head_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_server, "HEADER_TIMEOUT_S", HEAD_TIMEOUT_S)


def _serve(
    scenario_body: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> None:
    async def scenario() -> None:
        port = _free_port()
        server = HTTPServer(Starlette(routes=[Route("/", _hello)]), "127.0.0.1", port)
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                await scenario_body(reader, writer)
            finally:
                writer.close()
        finally:
            await server.stop()

    asyncio.run(scenario())


@pytest.mark.usefixtures("short_head_timeout")
def test_an_idle_keep_alive_connection_outlives_the_head_timeout() -> None:
    async def body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert (await _get(reader, writer)).startswith(b"HTTP/1.1 200")
        assert not await _closed(reader, within_s=HEAD_TIMEOUT_S * 4)  # idle: keep-alive rules
        assert (await _get(reader, writer)).startswith(b"HTTP/1.1 200")

    _serve(body)


@pytest.mark.usefixtures("short_head_timeout")
def test_a_head_begun_on_a_kept_connection_must_complete_in_time() -> None:
    async def body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert (await _get(reader, writer)).startswith(b"HTTP/1.1 200")
        writer.write(b"GET / HTTP/1.1\r\nHost: ot")  # and nothing more
        await writer.drain()
        assert await _closed(reader, within_s=HEAD_TIMEOUT_S * 6)

    _serve(body)


@pytest.mark.usefixtures("short_head_timeout")
def test_a_new_connection_that_sends_nothing_is_closed() -> None:
    async def body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await _closed(reader, within_s=HEAD_TIMEOUT_S * 6)

    _serve(body)
