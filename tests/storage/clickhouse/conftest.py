"""One real ClickHouse server for the native-protocol tests (Debian's clickhouse-server 18.16,
installed on first use). The embedded chdb fixtures are in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.clickhouse.server import ServerClient
from tests.support.clickhouse_server import ClickHouseServer, start_clickhouse


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """A clickhouse-server 18.16 on free loopback ports (installed with apt-get if missing)."""
    server = start_clickhouse(tmp_path_factory.mktemp("clickhouse-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server_client(clickhouse_server: ClickHouseServer) -> Iterator[ServerClient]:
    """A ``ServerClient`` connected to the session's server by URL."""
    server = ServerClient(clickhouse_server.url)
    yield server
    server.close()
