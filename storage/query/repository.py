"""The ClickHouse side of the read model: the client, the database and row counts that every
resource module of ``storage.query`` (``traces``, ``observations``, ``sessions``, ...) reads
through (docs/reference/langfuse.md §5), always scoped to one project.

All SQL is parameterised (``{name:Type}``); only whitelisted column names and directions are
put into the text. Reads deduplicate with ``FINAL`` and drop ``is_deleted`` rows (§2.7).
Reads block (they call the client), so async callers run them in a worker thread.

Rows come back as dicts with JSON-typed values: times as ``*_us`` Unix µs ints, money as decimal
strings; each resource module turns them into Langfuse JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.clickhouse.client import Client
from storage.query.sql import Where

__all__ = ["Page", "Repository", "Row"]

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows and the number of rows matching the filter."""

    rows: list[Row]
    total: int


class Repository:
    """The ClickHouse client and database the read model runs on.

    Args:
        client: the shared ClickHouse client.
        database: database created by ``storage.clickhouse.migrate.apply_migrations``.

    Every method raises ``RetryableError`` / ``PermanentError`` from the client.
    """

    def __init__(self, client: Client, database: str = "otelfuse") -> None:
        self._client = client
        self._db = database

    @property
    def client(self) -> Client:
        """The client the queries run on (for the endpoint modules of ``storage.query``)."""
        return self._client

    @property
    def database(self) -> str:
        """The database holding ``traces``, ``observations`` and ``scores``."""
        return self._db

    def ping(self) -> None:
        """Run ``SELECT 1``; raises when ClickHouse is not usable."""
        self._client.select("SELECT 1 AS ok")

    def count(self, table: str, where: Where) -> int:
        """Rows of ``table`` (``FINAL``) matching ``where``."""
        rows = self._client.select(
            f"SELECT count() AS n FROM {self._db}.{table} FINAL WHERE {where.sql()}", where.params
        )
        return int(rows[0]["n"]) if rows else 0
