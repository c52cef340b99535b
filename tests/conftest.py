"""Session fixtures shared by every test folder.

- ``service``: one real all-in-one otelfuse process for the end-to-end tests.
- ``client`` (alias ``engine``), ``writer``, ``project_id``: the one embedded ClickHouse of the
  session (chdb allows a single data path per process, docs/reference/test-services.md §2(a)),
  migrated; tests isolate themselves with a fresh project id.
- ``postgres_server``, ``pg_url``, ``migrated_url``: one real PostgreSQL per session
  (``tests.support.postgres``) and an empty (or migrated) database per test.
- ``s3_server``: one real S3 server (SeaweedFS, ``tests.support.s3``) per session; tests isolate
  themselves with their own bucket or prefix.

Tests that start an external process (Kafka broker, PostgreSQL, clickhouse-server, S3, otelfuse) get
the ``service`` marker here: every test of the system suites, and every test using a fixture of
``SERVICE_FIXTURES``; a module starting one otherwise sets ``pytestmark = pytest.mark.service``.
``make test-fast`` runs the others (and the starters in ``tests/support`` refuse to run there).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.migrate import apply_migrations as apply_clickhouse_migrations
from storage.clickhouse.writer import ClickHouseWriter
from storage.postgres.migrate import apply_migrations as apply_postgres_migrations
from tests.support.chdb import DATABASE
from tests.support.postgres import Postgres, run_with_pool, start_postgres
from tests.support.s3 import SeaweedFS, start_seaweedfs
from tests.support.service import Service, start_service

SYSTEM_SUITES = frozenset({"e2e", "scaleout", "deploy", "clients"})
"""Folders of ``tests/`` whose every test runs the system or its tooling."""
SERVICE_FIXTURES = frozenset(
    {"service", "seeded_service", "postgres_server", "clickhouse_server", "broker", "s3_server"}
)
"""Fixtures that start an external process (directly or through the fixtures they use)."""


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        suite = item.path.relative_to(tests).parts[0]
        fixtures = set(getattr(item, "fixturenames", ()))
        if suite in SYSTEM_SUITES or fixtures & SERVICE_FIXTURES:
            item.add_marker(pytest.mark.service)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``otelfuse run`` with default limits, on free ports, with a fixed test project."""
    svc = start_service(Path(tmp_path_factory.mktemp("otelfuse")))
    yield svc
    code = svc.stop()
    assert code == 0, f"otelfuse exited with {code}:\n{svc.log()}"


@pytest.fixture(scope="session")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbClient]:
    """The session's chdb client, migrated."""
    chdb = ChdbClient(tmp_path_factory.mktemp("chdb") / "data")
    apply_clickhouse_migrations(chdb, DATABASE)
    yield chdb
    chdb.close()


@pytest.fixture(scope="session")
def engine(client: ChdbClient) -> ChdbClient:
    """``client`` under the name the read-API tests (``tests/ingest/api``) use."""
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
def postgres_server() -> Iterator[Postgres]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: Postgres) -> str:
    return postgres_server.create_database()


@pytest.fixture
def migrated_url(pg_url: str) -> str:
    run_with_pool(pg_url, apply_postgres_migrations)
    return pg_url


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedFS]:
    server = start_seaweedfs()
    try:
        yield server
    finally:
        server.stop()
