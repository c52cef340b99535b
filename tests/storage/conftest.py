"""One embedded ClickHouse for the whole test session, and one real ClickHouse server.

chdb allows a single data path per process (docs/reference/test-services.md §2(a)), so every storage
test shares this client and isolates itself with a fresh project id. The server (Debian's
clickhouse-server 18.16, installed on first use) tests the native-protocol transport.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.server import ServerClient
from storage.clickhouse.writer import ClickHouseWriter
from tests.support.clickhouse_server import ClickHouseServer, start_clickhouse

DATABASE = "otelfuse"


@pytest.fixture(scope="session")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbClient]:
    """The session's chdb client, migrated."""
    chdb = ChdbClient(tmp_path_factory.mktemp("chdb") / "data")
    apply_migrations(chdb, DATABASE)
    yield chdb
    chdb.close()


@pytest.fixture(scope="session")
def engine(client: ChdbClient) -> ChdbClient:
    """``client`` under the name the query tests (``tests/storage/test_api*.py``) use."""
    return client


@pytest.fixture
def project_id() -> str:
    """A project id no other test uses."""
    return f"proj-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def writer(client: ChdbClient) -> ClickHouseWriter:
    """A writer with its own (empty) trace cache."""
    return ClickHouseWriter(client, database=DATABASE)


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
