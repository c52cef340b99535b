"""Where projects, API keys, custom model prices and prompts live: a PostgreSQL URL, and the
initial project created there (``OTELFUSE_INIT_PROJECT_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.postgres.keystore import DEFAULT_AUTH_CACHE_TTL_S

__all__ = ["InitProject", "PostgresConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PostgresConfig:
    """PostgreSQL settings (environment variables: ``ingest.app.settings``).

    Raises:
        ValueError: ``url`` is not a ``postgresql://`` or ``postgres://`` URL.
    """

    url: str = ""
    """``postgresql://user:pass@host:5432/db`` (schema ``otelfuse``); empty: the all-in-one,
    ``migrate`` and the admin commands use the embedded server in the data folder
    (``storage.postgres.embedded``); the scale-out roles refuse to start."""
    auth_cache_ttl_s: float = DEFAULT_AUTH_CACHE_TTL_S
    """Seconds an API-key lookup is reused (a revoked key fails within it)."""

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("postgres://", "postgresql://")):
            raise ValueError("url must start with postgresql:// or postgres://")


@dataclass(frozen=True, slots=True)
class InitProject:
    """The initial project and key pair from settings (``OTELFUSE_INIT_PROJECT_*``): all three
    set or all three empty (``ingest.app.settings`` checks). Created in PostgreSQL by
    ``storage.postgres.first_project.ensure_init_project`` (``otelfuse migrate`` and
    ``otelfuse run``); only a salted hash of ``secret_key`` is stored."""

    project_id: str = ""
    public_key: str = ""
    secret_key: str = ""

    def __repr__(self) -> str:
        return f"InitProject(project_id={self.project_id!r}, public_key={self.public_key!r})"
