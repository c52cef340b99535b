"""Opening ClickHouse for a role: the client (embedded chdb or a server), migrations, reads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from ingest.app.settings import Settings
from storage.clickhouse import open_client
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.client import Client
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.telemetry import EngineMemorySampler
from storage.query.repository import Repository

__all__ = ["Storage", "clickhouse_health"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Storage:
    """An open ClickHouse client and the query repository over it."""

    client: Client
    repository: Repository

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool) -> Storage:
        """Open the client of ``settings`` (``clickhouse_url`` or embedded under ``data_dir``).

        Raises:
            RetryableError / PermanentError: the client cannot be opened or migrated.
        """
        client = await asyncio.to_thread(open_client, settings.clickhouse.url, settings.data_dir)
        if migrate:
            applied = await asyncio.to_thread(
                apply_migrations, client, settings.clickhouse.database
            )
            if applied:
                log.info("applied ClickHouse migrations: %s", ", ".join(applied))
        return cls(client, Repository(client, database=settings.clickhouse.database))

    async def health(self) -> str | None:
        """``clickhouse_health`` of this repository."""
        return await clickhouse_health(self.repository)

    @property
    def embedded(self) -> bool:
        """True with embedded ClickHouse (chdb): the engine runs in this process, which holds
        the data folder (chdb's lock) and so is the only writer of its tables."""
        return isinstance(self.client, ChdbClient)

    async def watch_memory(self, stack: contextlib.AsyncExitStack) -> None:
        """With embedded ClickHouse, sample its memory gauges (``storage.clickhouse.telemetry``)
        until ``stack`` closes; with a server, whose memory is not this process's, nothing."""
        if self.embedded:
            sampler = EngineMemorySampler(self.client)
            await sampler.start()
            stack.push_async_callback(sampler.stop)

    async def close(self) -> None:
        """Close the client."""
        await asyncio.to_thread(self.client.close)


async def clickhouse_health(repository: Repository) -> str | None:
    """None when ClickHouse answers a ping, else ``"Database unavailable"`` (the reason goes
    to the log): a ``HealthCheck`` of ``ingest.http.app``. While a statement holds the
    embedded ClickHouse (``Client.busy``) it is healthy without a ping: a ping would wait for
    the statement, and a running statement shows the database is up."""
    if repository.client.busy():
        return None
    try:
        await asyncio.to_thread(repository.ping)
    except Exception as exc:  # any failure means "not healthy"
        log.warning("health check failed: %s", exc)
        return "Database unavailable"
    return None
