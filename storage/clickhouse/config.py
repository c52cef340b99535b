"""Where the ClickHouse tables live: a server URL or embedded chdb, and the database."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_DATABASE", "ClickHouseConfig"]

DEFAULT_DATABASE = "otelfuse"

_SCHEMES = ("clickhouse://", "clickhouses://")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClickHouseConfig:
    """ClickHouse settings (environment variables: ``ingest.app.settings``).

    Raises:
        ValueError: ``database`` is not a plain identifier, or ``url`` has another scheme.
    """

    url: str = ""
    """``clickhouse://user:pass@host:9000/db`` (``clickhouses://`` for TLS) for a ClickHouse
    server over the native protocol; its database, when given, overrides ``database``; empty:
    embedded chdb under the data folder."""
    database: str = DEFAULT_DATABASE
    """Database holding observations, traces and scores."""

    def __post_init__(self) -> None:
        if not self.database.isidentifier():
            raise ValueError(f"database={self.database!r} is not a plain identifier")
        if self.url and not self.url.startswith(_SCHEMES):
            raise ValueError("url must start with clickhouse:// or clickhouses:// (TLS)")
