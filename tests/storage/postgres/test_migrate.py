"""PostgreSQL migrations: applied once, in order, atomically, safe to run concurrently."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.errors import PermanentError
from storage.postgres.migrate import apply_migrations, load_migrations, pending_migrations
from storage.postgres.pool import PgPool, create_pool
from tests.support.postgres import run_with_pool

TABLES = {
    "projects",
    "api_keys",
    "models",
    "pricing_tiers",
    "prices",
    "prompts",
    "media",
    "trace_media",
    "observation_media",
    "schema_migrations",
}


async def _tables(pool: PgPool) -> set[str]:
    rows = await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'otelfuse'"
    )
    return {r["table_name"] for r in rows}


def test_apply_is_idempotent_and_recorded(pg_url: str) -> None:
    async def body(pool: PgPool) -> None:
        assert [m.name for m in await pending_migrations(pool)] == [
            m.name for m in load_migrations()
        ]
        first = await apply_migrations(pool)
        assert first == [m.name for m in load_migrations()]
        assert await apply_migrations(pool) == []
        assert await pending_migrations(pool) == []
        assert await _tables(pool) == TABLES
        versions = await pool.fetch("SELECT version FROM otelfuse.schema_migrations")
        assert sorted(r["version"] for r in versions) == [m.version for m in load_migrations()]

    run_with_pool(pg_url, body)


def test_concurrent_migrators_apply_each_file_once(pg_url: str) -> None:
    async def main() -> list[list[str]]:
        pools = [await create_pool(pg_url, max_size=1) for _ in range(4)]
        try:
            return await asyncio.gather(*(apply_migrations(p) for p in pools))
        finally:
            for pool in pools:
                await pool.close()

    results = asyncio.run(main())
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(m.name for m in load_migrations())


def test_a_failing_migration_is_rolled_back_entirely(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id INT);\n")
    (tmp_path / "0002_bad.sql").write_text(
        "CREATE TABLE half (id INT);\nSELECT * FROM no_such_table;\n"
    )
    migrations = load_migrations(tmp_path)

    async def body(pool: PgPool) -> None:
        with pytest.raises(PermanentError, match="0002_bad"):
            await apply_migrations(pool, migrations)
        assert await _tables(pool) == {"good", "schema_migrations"}  # no "half"
        assert [m.name for m in await pending_migrations(pool, migrations)] == ["0002_bad"]

    run_with_pool(pg_url, body)


def test_misnamed_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_init.sql").write_text("SELECT 1;")
    with pytest.raises(PermanentError, match="NNNN_name"):
        load_migrations(tmp_path)
