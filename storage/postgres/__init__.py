"""PostgreSQL metadata: projects, API keys, custom model prices and prompts (docs/architecture.md).

Every mode uses it: the scale-out roles at ``OTELFUSE_POSTGRES_URL`` (required), the all-in-one
there or in its embedded server (``embedded``). ``first_project`` creates the initial project
(``OTELFUSE_INIT_PROJECT_*``, ``config.InitProject``); ``jsonb`` is how JSON values travel.

- ``pool``: the asyncpg pool (``otelfuse`` schema, statement timeout), error translation,
  ``LoopBridge`` for worker threads;
- ``migrate``: numbered ``migrations/NNNN_*.sql``, one transaction each, advisory-locked;
- ``projects``, ``api_keys``, ``models``, ``prompts``: one repository per table group;
- ``model_defs``, ``prompt_defs``: Langfuse model-definition and prompt JSON in and out;
- ``keystore``: ``PostgresKeyStore``, the TTL-cached ``storage.auth.KeyStore``;
- ``runtime``: ``PostgresRuntime``, everything a role opens.
"""

from __future__ import annotations

from storage.postgres.keystore import PostgresKeyStore
from storage.postgres.migrate import apply_migrations
from storage.postgres.pool import create_pool
from storage.postgres.runtime import PostgresRuntime

__all__ = ["PostgresKeyStore", "PostgresRuntime", "apply_migrations", "create_pool"]
