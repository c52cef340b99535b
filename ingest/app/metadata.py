"""Projects, API keys, models and prompts for a role: PostgreSQL, the one metadata store.

The all-in-one and the admin commands use ``OTELFUSE_POSTGRES_URL`` when set, else an embedded
PostgreSQL under ``OTELFUSE_DATA_DIR/postgres`` (``storage.postgres.embedded``). The scale-out
roles without a URL still fall back to the settings-based project (``OTELFUSE_INIT_PROJECT_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from ingest.app.settings import Settings
from storage.auth import KeyStore
from storage.postgres.embedded import EMBEDDED_DIR, EmbeddedPostgres
from storage.projects import ProjectBootstrap, bootstrap_project

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from storage.postgres import PostgresRuntime

__all__ = [
    "bootstrap_from_settings",
    "open_keys",
    "open_metadata",
    "open_postgres",
    "postgres_url",
    "print_new_keys",
]


def bootstrap_from_settings(settings: Settings) -> ProjectBootstrap:
    """The project and key store from ``OTELFUSE_INIT_PROJECT_*`` or the data folder.

    Raises:
        ValueError: the stored project file is unreadable.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return bootstrap_project(settings.data_dir, settings.init_project)


def print_new_keys(project_id: str, public_key: str, secret_key: str) -> None:
    """Print a just-generated key pair once (to stdout, never to the log)."""
    print(
        f"\nCreated project {project_id}. Its API keys (the secret is shown only once):\n"
        f"  LANGFUSE_PUBLIC_KEY={public_key}\n"
        f"  LANGFUSE_SECRET_KEY={secret_key}\n",
        flush=True,
    )


async def postgres_url(settings: Settings, stack: contextlib.AsyncExitStack, *, owner: bool) -> str:
    """``settings.postgres.url``, else the URL of the embedded server in the data folder,
    started (or adopted) now and stopped when ``stack`` closes (``owner``: always; else only
    if started here; see ``storage.postgres.embedded``).

    Raises:
        PermanentError: the embedded server did not start.
    """
    if settings.postgres.url:
        return settings.postgres.url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = await asyncio.to_thread(
        EmbeddedPostgres.start, settings.data_dir / EMBEDDED_DIR, owner=owner
    )
    stack.push_async_callback(asyncio.to_thread, server.stop)
    return server.url


async def open_metadata(settings: Settings, stack: contextlib.AsyncExitStack) -> PostgresRuntime:
    """The all-in-one's metadata: PostgreSQL (embedded unless a URL is set), migrated, with
    its first project (``storage.postgres.first_project``; a generated key pair is printed
    once). Closed with ``stack``. Call it after the data folder is held (embedded ClickHouse's
    lock), so that the embedded server belongs to this process.

    Raises:
        ValueError, RetryableError, PermanentError: as ``postgres_url``, ``open_postgres`` and
            ``ensure_first_project``.
    """
    from storage.postgres.first_project import ensure_first_project

    url = await postgres_url(settings, stack, owner=True)
    postgres = await open_postgres(settings, url, migrate=True)
    stack.push_async_callback(postgres.close)
    first = await ensure_first_project(postgres, settings.data_dir)
    if first is not None:
        print_new_keys(first.project_id, first.public_key, first.secret_key)
    return postgres


async def open_postgres(settings: Settings, url: str, *, migrate: bool) -> PostgresRuntime:
    """PostgreSQL metadata at ``url`` for a role: pool, key store and repositories;
    ``OTELFUSE_INIT_PROJECT_*``, when set, are created in PostgreSQL if missing.

    Raises:
        RetryableError / PermanentError: PostgreSQL unreachable, refusing, or not migrated.
    """
    from storage.postgres import PostgresRuntime

    init = settings.init_project
    return await PostgresRuntime.open(
        url,
        migrate=migrate,
        init=init if init.project_id else None,
        auth_cache_ttl_s=settings.postgres.auth_cache_ttl_s,
    )


async def open_keys(
    settings: Settings, stack: contextlib.AsyncExitStack, *, migrate: bool = False
) -> tuple[KeyStore, PostgresRuntime | None]:
    """The role's key store: PostgreSQL's when ``postgres.url`` is set (closed with
    ``stack``), else the settings-based project's, whose generated key pair is printed once.

    Raises:
        ValueError, RetryableError, PermanentError: as ``bootstrap_from_settings`` and
            ``open_postgres``.
    """
    if settings.postgres.url:
        postgres = await open_postgres(settings, settings.postgres.url, migrate=migrate)
        stack.push_async_callback(postgres.close)
        if not postgres.keys.active_keys:
            log.warning(
                "PostgreSQL has no API keys yet: create them with "
                "`otelfuse projects create --name NAME` and `otelfuse keys create --project ID`"
            )
        return postgres.keys, postgres
    bootstrap = bootstrap_from_settings(settings)
    if bootstrap.new_secret_key is not None:
        print_new_keys(bootstrap.project.id, bootstrap.public_key, bootstrap.new_secret_key)
    return bootstrap.keys, None
