"""#15 item 3: slow clients cannot hold the HTTP server.

1,000 connections sending their request headers byte by byte used to stay open forever (uvicorn
has no header timeout), exhausting file descriptors so that accept() failed and health and
exports timed out. Now a connection whose request head is not complete within
``HEADER_TIMEOUT_S`` is closed (``ingest/http/server.py``), and health answers meanwhile.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest

from ingest.http.server import HEADER_TIMEOUT_S
from tests.support.service import Service

SLOW_CONNECTIONS = 300


@pytest.mark.slow
def test_slow_header_connections_are_closed_and_health_answers(service: Service) -> None:
    url = urlsplit(service.http_url)
    address = (url.hostname or "127.0.0.1", url.port or 80)
    opened = time.monotonic()
    slow = []
    for _ in range(SLOW_CONNECTIONS):
        sock = socket.create_connection(address, timeout=5)
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: otelfuse\r\n")
        sock.setblocking(False)
        slow.append(sock)
    try:
        started = time.monotonic()
        health = service.client.get("/api/public/health", timeout=5)
        assert health.status_code == 200
        assert time.monotonic() - started < 2.0

        open_ = list(slow)
        deadline = opened + HEADER_TIMEOUT_S + 5
        while open_ and time.monotonic() < deadline:
            still = []
            for sock in open_:
                try:
                    sock.send(b"X")  # one more header byte, like a slowloris client
                    if sock.recv(1024) == b"":
                        continue  # closed by the server
                except BlockingIOError:
                    pass
                except OSError:
                    continue  # reset by the server
                still.append(sock)
            open_ = still
            time.sleep(0.5)
        closed_after = time.monotonic() - opened
        assert not open_, f"{len(open_)} slow connections still open after {closed_after:.1f}s"
        assert closed_after >= HEADER_TIMEOUT_S - 1
        assert service.client.get("/api/public/health", timeout=5).status_code == 200
    finally:
        for sock in slow:
            sock.close()
