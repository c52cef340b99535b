"""Fixtures of the PostgreSQL tests: one real server per session, one empty database per user.

``postgres_server`` starts Debian's PostgreSQL on a free port (``tests.support.postgres``) and
stops it at the end; ``pg_url`` is a fresh database on it; ``migrated_url`` has the schema;
``run_pg`` runs a coroutine with a pool on a fresh event loop (tests are synchronous).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

from storage.postgres.migrate import apply_migrations
from storage.postgres.pool import PgPool, create_pool
from tests.support.postgres import Postgres, start_postgres
from tests.support.service import REPO

T = TypeVar("T")


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


def run_with_pool(url: str, body: Callable[[PgPool], Awaitable[T]]) -> T:
    """``body(pool)`` on a fresh event loop with a pool to ``url``."""

    async def main() -> T:
        pool = await create_pool(url, max_size=4)
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


@pytest.fixture
def migrated_url(pg_url: str) -> str:
    run_with_pool(pg_url, apply_migrations)
    return pg_url


def otelfuse_cli(
    args: list[str], env: Mapping[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ingest ARGS`` with ``env`` on top of the test process's environment."""
    result = subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"otelfuse {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def cli_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Settings for CLI runs: the database and a data folder (embedded ClickHouse)."""
    return {
        "OTELFUSE_POSTGRES_URL": url,
        "OTELFUSE_DATA_DIR": str(data_dir),
        "OTELFUSE_INIT_PROJECT_ID": "",
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": "",
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": "",
        **extra,
    }
