"""ClickHouse storage: clients, schema migrations and the batch writer.

- ``client``: the ``Client`` protocol; ``chdb``: ``ChdbClient`` (embedded ClickHouse, the
  default); ``server``: ``ServerClient`` (a ClickHouse server over the native protocol,
  clickhouse-driver);
- ``schema``: the ``observations`` columns every write and read path derives from;
- ``migrate``: forward-only numbered migrations (``migrations/NNNN_*.sql``), on either client;
- ``writer``: ``ClickHouseWriter`` (observation rows + merged trace rows).

``open_client`` picks the client from the configured URL.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.client import Client
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.writer import ClickHouseWriter
from storage.errors import PermanentError

__all__ = [
    "ChdbClient",
    "ClickHouseWriter",
    "Client",
    "apply_migrations",
    "database_for",
    "open_client",
]

_SERVER_SCHEMES = ("clickhouse", "clickhouses")


def open_client(url: str | None, data_dir: Path) -> Client:
    """The client for ``url``: a ``clickhouse://``/``clickhouses://`` URL gives a
    ``ServerClient``; ``None`` (or ``""``) gives ``ChdbClient(data_dir / "clickhouse")``.

    Only one ``ChdbClient`` may exist per process (chdb's single data path): share the result.

    Raises:
        PermanentError: another URL scheme (e.g. ``http://``: only the native protocol is
            supported), or an invalid URL option.
        RetryableError: the chdb data folder is locked by another process.
    """
    if not url:
        return ChdbClient(data_dir / "clickhouse")
    scheme = urlparse(url).scheme
    if scheme not in _SERVER_SCHEMES:
        raise PermanentError(
            f"unsupported ClickHouse URL scheme {scheme!r}: use clickhouse:// (native protocol,"
            " port 9000) or clickhouses:// (TLS, port 9440)"
        )
    from storage.clickhouse.server import ServerClient  # imports clickhouse-driver

    return ServerClient(url)


def database_for(url: str | None, default: str) -> str:
    """The database the tables live in: the URL path when it names one, else ``default``.

    Raises:
        PermanentError: the URL path is not a plain identifier.
    """
    if not url:
        return default
    from storage.clickhouse.server import database_from_url

    return database_from_url(url) or default
