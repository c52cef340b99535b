"""Projects, API keys, models and prompts for a role: PostgreSQL, the one metadata store.

The all-in-one, ``migrate`` and the admin commands use ``OTELFUSE_POSTGRES_URL`` when set, else
an embedded PostgreSQL under ``OTELFUSE_DATA_DIR/postgres`` (``storage.postgres.embedded``).
The scale-out roles (receiver, processor, query) need ``OTELFUSE_POSTGRES_URL``: they run as
separate processes, often replicas on several machines, and share one server; they only read
the schema and the initial project that ``otelfuse migrate`` created there
(``storage.postgres.first_project``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from ingest.app.settings import ConfigError, Settings
from storage.postgres.embedded import EMBEDDED_DIR, EmbeddedPostgres

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from storage.postgres import PostgresRuntime

__all__ = [
    "open_metadata",
    "open_postgres",
    "open_role_metadata",
    "postgres_url",
    "print_new_keys",
    "require_postgres_url",
]


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


async def open_metadata(
    settings: Settings, stack: contextlib.AsyncExitStack, url: str | None = None
) -> PostgresRuntime:
    """The all-in-one's metadata: PostgreSQL at ``url`` (default ``postgres_url``: embedded
    unless a URL is set), migrated, with its first project (``storage.postgres.first_project``;
    a generated key pair is printed once). Closed with ``stack``. Call it after the data folder
    is held (embedded ClickHouse's lock), so that the embedded server belongs to this process.

    Raises:
        ValueError, RetryableError, PermanentError: as ``postgres_url``, ``open_postgres`` and
            ``ensure_first_project``.
    """
    from storage.postgres.first_project import ensure_first_project, ensure_init_project

    if url is None:
        url = await postgres_url(settings, stack, owner=True)
    postgres = await open_postgres(settings, url, migrate=True)
    stack.push_async_callback(postgres.close)
    if await ensure_init_project(postgres.pool, settings.init_project) == "created":
        await postgres.keys.refresh_once()
    first = await ensure_first_project(postgres, settings.data_dir)
    if first is not None:
        print_new_keys(first.project_id, first.public_key, first.secret_key)
    return postgres


async def open_postgres(
    settings: Settings, url: str, *, migrate: bool, max_connections: int = 10
) -> PostgresRuntime:
    """PostgreSQL metadata at ``url`` for a role: pool (``max_connections``, plus one for the
    key store's revocation listener), key store and repositories.

    Raises:
        RetryableError / PermanentError: PostgreSQL unreachable, refusing, or not migrated.
    """
    from storage.postgres import PostgresRuntime

    return await PostgresRuntime.open(
        url,
        migrate=migrate,
        auth_cache_ttl_s=settings.postgres.auth_cache_ttl_s,
        max_connections=max_connections,
    )


def require_postgres_url(settings: Settings, role: str) -> str:
    """``OTELFUSE_POSTGRES_URL`` for a scale-out role.

    Raises:
        ConfigError: it is empty (the message says what to set and run).
    """
    if not settings.postgres.url:
        raise ConfigError(
            f"the {role} role needs OTELFUSE_POSTGRES_URL (postgresql://user:pass@host:5432/db): "
            "scale-out roles keep projects, API keys, model prices and prompts in one shared "
            "PostgreSQL. Set it for every role, run `otelfuse migrate` once with it (and with "
            "OTELFUSE_INIT_PROJECT_* to create the first project), then start the roles; "
            "`otelfuse run` needs no URL (it embeds PostgreSQL)"
        )
    return settings.postgres.url


async def open_role_metadata(
    settings: Settings, stack: contextlib.AsyncExitStack, role: str
) -> PostgresRuntime:
    """A scale-out role's metadata: PostgreSQL at ``OTELFUSE_POSTGRES_URL``, already migrated
    (by ``otelfuse migrate``), closed with ``stack``. The role does not create the initial
    project; a database without any API key, or without the ``OTELFUSE_INIT_PROJECT_*`` key
    when that is set, is logged as a warning.

    Raises:
        ConfigError: ``OTELFUSE_POSTGRES_URL`` is empty.
        RetryableError / PermanentError: as ``open_postgres`` (pending migrations included).
    """
    url = require_postgres_url(settings, role)
    postgres = await open_postgres(settings, url, migrate=False)
    stack.push_async_callback(postgres.close)
    if not postgres.keys.active_keys:
        log.warning(
            "PostgreSQL has no API keys yet: run `otelfuse migrate` with OTELFUSE_INIT_PROJECT_*, "
            "or `otelfuse projects create --name NAME` and `otelfuse keys create --project ID`"
        )
    init = settings.init_project.public_key
    if init and not await postgres.api_keys.find_active([init]):
        log.warning(
            "OTELFUSE_INIT_PROJECT_PUBLIC_KEY is not an active key in PostgreSQL: the roles do "
            "not create it; run `otelfuse migrate` with OTELFUSE_INIT_PROJECT_*"
        )
    return postgres
