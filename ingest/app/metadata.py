"""Projects and API keys for a role: PostgreSQL when ``postgres.url`` is set, else the
settings-based project (``OTELFUSE_INIT_PROJECT_*`` or one generated under the data folder)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ingest.app.settings import Settings
from storage.auth import KeyStore
from storage.projects import ProjectBootstrap, bootstrap_project

if TYPE_CHECKING:
    from storage.postgres import PostgresRuntime

__all__ = ["bootstrap_from_settings", "open_keys", "open_postgres", "print_new_keys"]


def bootstrap_from_settings(settings: Settings) -> ProjectBootstrap:
    """The project and key store from ``OTELFUSE_INIT_PROJECT_*`` or the data folder.

    Raises:
        ValueError: the stored project file is unreadable.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return bootstrap_project(settings.data_dir, settings.init_project)


def print_new_keys(bootstrap: ProjectBootstrap) -> None:
    """Print a just-generated key pair once (to stdout, never to the log)."""
    print(
        f"\nCreated project {bootstrap.project.id}. "
        "Its API keys (the secret is shown only once):\n"
        f"  LANGFUSE_PUBLIC_KEY={bootstrap.public_key}\n"
        f"  LANGFUSE_SECRET_KEY={bootstrap.new_secret_key}\n",
        flush=True,
    )


async def open_postgres(settings: Settings, *, migrate: bool) -> PostgresRuntime:
    """PostgreSQL metadata for a role (``settings.postgres.url`` must be set): pool, key store
    and repositories; ``OTELFUSE_INIT_PROJECT_*``, when set, are created in PostgreSQL if
    missing; nothing is generated otherwise.

    Raises:
        RetryableError / PermanentError: PostgreSQL unreachable, refusing, or not migrated.
    """
    from storage.postgres import PostgresRuntime

    init = settings.init_project
    return await PostgresRuntime.open(
        settings.postgres.url,
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
        postgres = await open_postgres(settings, migrate=migrate)
        stack.push_async_callback(postgres.close)
        return postgres.keys, postgres
    bootstrap = bootstrap_from_settings(settings)
    if bootstrap.new_secret_key is not None:
        print_new_keys(bootstrap)
    return bootstrap.keys, None
