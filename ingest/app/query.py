"""The query role: the Langfuse read API over ClickHouse (plus ``/api/public/models``,
``/v2/prompts`` and the media API with PostgreSQL); health answers whether ClickHouse does."""

from __future__ import annotations

import contextlib
import logging

from ingest.api.read import read_routes
from ingest.app.clickhouse import Storage
from ingest.app.media import media_routes
from ingest.app.metadata import open_role_metadata
from ingest.app.servers import start_http
from ingest.app.service import StackedService
from ingest.app.settings import Settings

__all__ = ["Query"]

log = logging.getLogger(__name__)


class Query(StackedService):
    """The Langfuse read API over ClickHouse."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        """Open the key store and ClickHouse, then serve HTTP.

        Raises:
            RetryableError / PermanentError: a store cannot be opened; RuntimeError: the port
                cannot be bound.
        """
        s = self.settings
        postgres = await open_role_metadata(s, stack, "query")
        keys = postgres.keys
        storage = await Storage.open(s, migrate=False)
        stack.push_async_callback(storage.close)
        limit = s.server.max_request_bytes
        routes = read_routes(storage.repository, keys, max_request_bytes=limit, postgres=postgres)
        routes += await media_routes(s, stack, keys, postgres)
        await start_http(s, stack, routes, storage.health)
        log.info("otelfuse query API ready: http://%s", s.server.http_address)
