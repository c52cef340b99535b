"""The migrate role: apply pending ClickHouse migrations, then PostgreSQL ones, create the
initial project (``OTELFUSE_INIT_PROJECT_*``) in PostgreSQL, create the blob store's bucket (or
folder), and exit.

The initial project is created here rather than by each scale-out role at start: ``migrate``
runs once before the roles (a Helm pre-install/pre-upgrade hook, a compose service the roles
wait for), so the roles only read PostgreSQL; a second ``migrate`` at the same time is still
safe (``storage.postgres.first_project.ensure_init_project`` is idempotent)."""

from __future__ import annotations

import asyncio
import contextlib

from ingest.app.clickhouse import Storage
from ingest.app.metadata import postgres_url
from ingest.app.settings import Settings
from storage.blobs import open_blob_store
from storage.clickhouse.migrate import apply_migrations

__all__ = ["migrate"]


async def migrate(settings: Settings) -> list[str]:
    """Apply pending ClickHouse migrations, then PostgreSQL ones (``postgres.url``, else the
    embedded server in the data folder), create the initial project when it is set and missing,
    then the blob bucket when missing; returns what was done (PostgreSQL migrations prefixed
    ``postgres:``, a created initial project as ``postgres:project <id>``, a created bucket as
    ``blobs:<kind> bucket``).

    Raises:
        RetryableError / PermanentError: a store is unreachable or refuses a migration, or the
            initial public key belongs to another project.
    """
    storage = await Storage.open(settings, migrate=False)
    try:
        applied = await asyncio.to_thread(
            apply_migrations, storage.client, settings.clickhouse.database
        )
    finally:
        await storage.close()
    from storage.postgres import apply_migrations as apply_postgres_migrations
    from storage.postgres import create_pool
    from storage.postgres.first_project import ensure_init_project

    async with contextlib.AsyncExitStack() as stack:
        pool = await create_pool(await postgres_url(settings, stack, owner=False), max_size=1)
        stack.push_async_callback(pool.close)
        applied += [f"postgres:{name}" for name in await apply_postgres_migrations(pool)]
        if await ensure_init_project(pool, settings.init_project) == "created":
            applied.append(f"postgres:project {settings.init_project.project_id}")
    store = open_blob_store(settings.blobs, settings.data_dir)
    try:
        if await store.ensure_bucket():
            applied.append(f"blobs:{store.kind} bucket")
    finally:
        await store.close()
    return applied
