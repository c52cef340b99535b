"""One embedded ClickHouse for the whole test session.

chdb allows a single data path per process (local-services.md §2(a)), so every storage test
shares this engine and isolates itself with a fresh project id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from storage.clickhouse.engine import ChdbEngine
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.writer import ClickHouseWriter

DATABASE = "otelfuse"


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbEngine]:
    """The session's chdb engine, migrated."""
    eng = ChdbEngine(tmp_path_factory.mktemp("chdb") / "data")
    apply_migrations(eng, DATABASE)
    yield eng
    eng.close()


@pytest.fixture
def project_id() -> str:
    """A project id no other test uses."""
    return f"proj-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def writer(engine: ChdbEngine) -> ClickHouseWriter:
    """A writer with its own (empty) trace cache."""
    return ClickHouseWriter(engine, database=DATABASE)
