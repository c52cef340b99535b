"""The asyncpg connection pool, error translation and a bridge for worker threads.

- ``create_pool(url)``: a pool whose connections use the ``otelfuse`` schema (``search_path``),
  decode ``jsonb`` as Python values and stop any statement after ``statement_timeout_ms``
  (which also bounds a hostile ``match_pattern`` regex).
  ``jsonb`` values go through ``storage.postgres.jsonb``.
- ``postgres_errors()``: turns asyncpg/network failures into the two storage errors
  (``storage.errors``): unreachable server, timeouts, too many connections -> ``RetryableError``;
  everything else PostgreSQL rejects -> ``PermanentError``. Messages never carry the URL.
- ``LoopBridge``: the enrichment step runs in a worker thread (``asyncio.to_thread``) while the
  pool belongs to the service's event loop; ``LoopBridge.call`` runs a coroutine on that loop and
  blocks the worker thread (never the loop) until it is done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import asyncpg.pool

from storage.errors import PermanentError, RetryableError
from storage.postgres.jsonb import dumps, loads

__all__ = [
    "SCHEMA",
    "LoopBridge",
    "PgConnection",
    "PgPool",
    "create_pool",
    "postgres_errors",
    "redact_url",
]

SCHEMA = "otelfuse"
"""Every otelfuse table lives in this PostgreSQL schema (created by the first migration)."""

DEFAULT_STATEMENT_TIMEOUT_MS = 5_000

PgPool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
PgConnection: TypeAlias = (
    "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
)
T = TypeVar("T")

_RETRYABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,  # statement_timeout
    asyncpg.InterfaceError,  # connection lost / pool closing
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


def redact_url(url: str) -> str:
    """``url`` without its password, for log lines and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@contextmanager
def postgres_errors(action: str) -> Iterator[None]:
    """Translate failures inside the block; ``action`` names what was being done.

    Raises:
        RetryableError: the server is unreachable, overloaded or timed out.
        PermanentError: PostgreSQL rejected the statement.
    """
    try:
        yield
    except (RetryableError, PermanentError):
        raise
    except _RETRYABLE as exc:
        raise RetryableError(
            f"PostgreSQL unavailable while {action}: {type(exc).__name__}"
        ) from exc
    except asyncpg.PostgresError as exc:
        raise PermanentError(f"PostgreSQL rejected {action}: {exc}") from exc


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    await conn.set_type_codec("jsonb", encoder=dumps, decoder=loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=dumps, decoder=loads, schema="pg_catalog")


def server_settings(statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS) -> dict[str, str]:
    """Session settings of every otelfuse connection."""
    return {
        "search_path": SCHEMA,
        "application_name": "otelfuse",
        "statement_timeout": str(statement_timeout_ms),
    }


async def create_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    connect_timeout_s: float = 10.0,
) -> PgPool:
    """Open a pool to ``url`` (``postgresql://user:pass@host:5432/db``).

    Raises:
        RetryableError: the server cannot be reached.
        PermanentError: the URL or the credentials are refused.
    """
    with postgres_errors(f"connecting to {redact_url(url)}"):
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout_s,
                server_settings=server_settings(statement_timeout_ms),
                init=_init_connection,
            )
        except ValueError as exc:  # malformed DSN
            raise PermanentError(f"invalid PostgreSQL URL {redact_url(url)}: {exc}") from None
    return pool


class LoopBridge:
    """Runs coroutines on ``loop`` for code running in other threads.

    Args:
        loop: the event loop owning the pool (the service's loop).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def on_loop_thread(self) -> bool:
        """True when called from the thread running ``loop`` (blocking there would deadlock)."""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def call(self, factory: Callable[[], Awaitable[T]], timeout_s: float) -> T:
        """Run ``factory()`` on the loop and wait for its result in this (worker) thread.

        Raises:
            RuntimeError: called on the loop's own thread.
            RetryableError: no result within ``timeout_s`` or the loop is closed.
            whatever the coroutine raises.
        """
        if self.on_loop_thread():
            raise RuntimeError("LoopBridge.call blocks; call it from a worker thread")

        async def run() -> T:
            return await factory()

        try:
            future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        except RuntimeError as exc:  # loop closed
            raise RetryableError(f"PostgreSQL client stopped: {exc}") from exc
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RetryableError(f"PostgreSQL did not answer within {timeout_s:g} s") from None
