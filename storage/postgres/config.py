"""Where projects, API keys, custom model prices and prompts live: a PostgreSQL URL."""

from __future__ import annotations

from dataclasses import dataclass

from storage.postgres.keystore import DEFAULT_AUTH_CACHE_TTL_S

__all__ = ["PostgresConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PostgresConfig:
    """PostgreSQL settings (environment variables: ``ingest.app.settings``).

    Raises:
        ValueError: ``url`` is not a ``postgresql://`` or ``postgres://`` URL.
    """

    url: str = ""
    """``postgresql://user:pass@host:5432/db`` (schema ``otelfuse``); empty: the settings-based
    project and catalog prices only."""
    auth_cache_ttl_s: float = DEFAULT_AUTH_CACHE_TTL_S
    """Seconds an API-key lookup is reused (a revoked key fails within it)."""

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("postgres://", "postgresql://")):
            raise ValueError("url must start with postgresql:// or postgres://")
