"""``PostgresRuntime``: what a role opens when ``OTELFUSE_POSTGRES_URL`` is set.

One pool, the repositories and the started ``PostgresKeyStore``, plus a pool of one
connection on which the key store listens for revocations (``storage.postgres.keystore``).
``open`` can apply pending migrations (all-in-one start) or only check that none is pending
(scale-out roles, whose schema is the ``migrate`` role's job). The initial project
(``OTELFUSE_INIT_PROJECT_*``) is created by ``storage.postgres.first_project``, not here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from storage.errors import PermanentError
from storage.postgres.api_keys import ApiKeyRepository
from storage.postgres.keystore import DEFAULT_AUTH_CACHE_TTL_S, PostgresKeyStore
from storage.postgres.media import MediaRepository
from storage.postgres.migrate import apply_migrations, pending_migrations
from storage.postgres.models import ModelRepository
from storage.postgres.pool import PgPool, create_pool, redact_url
from storage.postgres.projects import ProjectRepository
from storage.postgres.prompts import PromptRepository

__all__ = ["PostgresRuntime"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PostgresRuntime:
    """An open pool, its repositories and the started key store."""

    pool: PgPool
    projects: ProjectRepository
    api_keys: ApiKeyRepository
    models: ModelRepository
    prompts: PromptRepository
    media: MediaRepository
    keys: PostgresKeyStore
    listen_pool: PgPool
    """One connection of its own: the key store's revocation listener (``LISTEN``)."""

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool,
        auth_cache_ttl_s: float = DEFAULT_AUTH_CACHE_TTL_S,
        max_connections: int = 10,
    ) -> PostgresRuntime:
        """Connect (``max_connections`` plus the listener's one), migrate (or check), start
        the key store.

        Raises:
            RetryableError: PostgreSQL unreachable.
            PermanentError: migrations fail or are pending (``migrate=False``), or the URL is
                refused.
        """
        pool = await create_pool(url, max_size=max_connections)
        listen_pool: PgPool | None = None
        try:
            listen_pool = await create_pool(url, max_size=1)
            if migrate:
                applied = await apply_migrations(pool)
                if applied:
                    log.info("applied PostgreSQL migrations: %s", ", ".join(applied))
            else:
                pending = await pending_migrations(pool)
                if pending:
                    raise PermanentError(
                        f"PostgreSQL at {redact_url(url)} needs migrations "
                        f"({', '.join(m.name for m in pending)}): run `otelfuse migrate`"
                    )
            api_keys = ApiKeyRepository(pool)
            runtime = cls(
                pool=pool,
                projects=ProjectRepository(pool),
                api_keys=api_keys,
                models=ModelRepository(pool),
                prompts=PromptRepository(pool),
                media=MediaRepository(pool),
                keys=PostgresKeyStore(
                    api_keys,
                    ttl_s=auth_cache_ttl_s,
                    revocations=ApiKeyRepository(listen_pool),
                ),
                listen_pool=listen_pool,
            )
            await runtime.keys.start()
        except BaseException:
            if listen_pool is not None:
                listen_pool.terminate()
            await pool.close()
            raise
        return runtime

    async def close(self) -> None:
        """Stop the key store, then close the pools."""
        try:
            await self.keys.stop()
        finally:
            try:
                await self.listen_pool.close()
            finally:
                await self.pool.close()
