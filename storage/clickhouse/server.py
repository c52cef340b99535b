"""``ServerClient``: the ``Client`` interface on a ClickHouse server over the native TCP protocol.

Uses clickhouse-driver. Settings come from a URL (parsed by the driver's own ``parse_url``)::

    clickhouse://user:password@host:9000/otelfuse?connect_timeout=5&send_receive_timeout=60
                                                  # (the defaults here; the driver's: 10 s, 300 s)
    clickhouses://user:password@host:9440/otelfuse?verify=true          # TLS
    ...&compression=lz4          # needs ``clickhouse-driver[lz4]`` (lz4 + clickhouse-cityhash)
    ...&max_execution_time=30    # any other key is sent as a ClickHouse setting

The URL path names the database the application's tables live in (``ServerClient.database``,
also ``database_from_url``). Connections do **not** select it, because the ``migrate`` role must
be able to connect before it exists; every statement in the code base qualifies its tables.

- Queries: ``{name:Type}`` placeholders are rendered client-side as ``CAST(%(name)s AS Type)``
  with the driver's escaping (``params.to_driver_query``).
- Inserts: one columnar native-protocol INSERT per call (``execute(..., columnar=True)``), from
  rows or columns (``insert_columns`` goes through ``insert_rows``); values are adapted to the
  column types read from ``system.columns`` (``server_values``).
- Results: turned into the JSON-typed values chdb's JSONEachRow gives (``server_values``).
- Threads: clickhouse-driver clients are not thread-safe, so every call borrows a client from a
  small pool (one per concurrent caller); a client that failed is reconnected on its next use.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlparse

from storage.clickhouse.classify import classify_error
from storage.clickhouse.client import NATIVE, ProtobufInsert
from storage.clickhouse.columns import (
    ColumnTypes,
    check_columns,
    check_rows,
    column_list,
    system_columns,
    validate_table,
)
from storage.clickhouse.params import to_driver_query
from storage.clickhouse.prepared import PreparedInsert, Starting
from storage.clickhouse.server_values import insert_columns, json_converter
from storage.errors import PermanentError, RetryableError

__all__ = ["SCHEMES", "ServerClient", "database_from_url"]

SCHEMES = ("clickhouse", "clickhouses")

_IDLE_CLIENTS = 16
_DEFAULT_MAX_QUERY_SIZE = 262_144  # bytes; ClickHouse's default ``max_query_size``
_INLINE_INSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+(?:TABLE\s+)?[\w.`\"]+\s*(?:\([^)]*\))?\s*"
    r"(?:SETTINGS\b[^;]*?)?\b(?:VALUES|FORMAT)\b",
    re.IGNORECASE | re.DOTALL,
)
_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def database_from_url(url: str) -> str | None:
    """The database named by the URL path (``clickhouse://h:9000/otelfuse`` -> ``"otelfuse"``).

    Raises:
        PermanentError: the path is not a plain identifier.
    """
    path = unquote(urlparse(url).path).strip("/")
    if not path:
        return None
    if not _DATABASE.match(path):
        raise PermanentError(f"invalid ClickHouse database {path!r} in URL")
    return path


class ServerClient:
    """A ClickHouse server reached with clickhouse-driver (native protocol, TCP 9000/9440).

    Args:
        url: ``clickhouse://`` or ``clickhouses://`` URL (see the module docstring).
        types_check: let the driver check every insert value's Python type (clearer errors,
            about 35% slower inserts; off by default because ``storage.clickhouse.rows`` builds
            well-typed rows).

    Constructing does not connect; the first call does (and fails with ``RetryableError`` while
    the server is unreachable).

    Raises:
        PermanentError: the URL is not a ``clickhouse://`` URL or names an option the installed
            driver cannot honour (e.g. ``compression=lz4`` without its extra packages).
    """

    insert_formats: frozenset[str] = frozenset({NATIVE})
    """``Client.insert_formats``: native-protocol blocks only (no ``Protobuf`` inserts)."""

    merge_tree_settings: Mapping[str, int] = MappingProxyType({})
    """``Client.merge_tree_settings``: none; the server's configuration governs its tables."""

    def __init__(self, url: str, *, types_check: bool = False) -> None:
        from clickhouse_driver.util.helpers import parse_url

        scheme = urlparse(url).scheme
        if scheme not in SCHEMES:
            raise PermanentError(f"not a clickhouse:// URL: scheme {scheme!r}")
        self.database = database_from_url(url)
        try:
            host, kwargs = parse_url(url)
        except (ValueError, AttributeError) as exc:
            raise PermanentError(f"invalid ClickHouse URL: {exc}") from exc
        if not host:
            raise PermanentError("ClickHouse URL has no host")
        kwargs.pop("database", None)  # see the module docstring
        settings = dict(kwargs.pop("settings", {}))
        if "use_numpy" in settings:
            raise PermanentError("use_numpy is not supported: results must be plain values")
        kwargs.setdefault("client_name", "otelfuse")
        kwargs.setdefault("connect_timeout", 5.0)  # the driver's defaults are 10 s and 300 s
        kwargs.setdefault("send_receive_timeout", 60.0)  # progress packets keep long queries alive
        self.host: str = host
        self.port: int = int(kwargs.get("port", 9440 if kwargs.get("secure") else 9000))
        self._kwargs = kwargs
        self._settings = settings
        self._types_check = types_check
        self._lock = threading.Lock()
        self._idle: list[Any] = [self._new_client()]  # validates the options now
        self._closed = False
        self._types = ColumnTypes(system_columns(self.select))

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows.

        Raises:
            PermanentError: also for ``INSERT ... VALUES``/``FORMAT`` with inline data, which
                the native protocol does not take as text (the server would wait for data
                blocks); use ``insert_rows``.
        """
        if _INLINE_INSERT.match(sql):
            raise PermanentError(
                "INSERT with inline data is not supported over the native protocol;"
                " use Client.insert_rows"
            )
        self._execute(sql, params)

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query; rows as dicts of JSON-typed values (see ``Client.select``).

        Conversions from the driver's Python types: DateTime/DateTime64 -> ``"YYYY-MM-DD
        hh:mm:ss[.fff]"`` text in the server time zone, Date -> ISO text, Decimal -> float,
        UUID/IP -> text, Tuple -> list; everything else unchanged.
        """
        rows, columns = self._execute(sql, params, with_column_types=True)
        names = [name for name, _ in columns]
        converters = [
            (i, convert)
            for i, (_, type_name) in enumerate(columns)
            if (convert := json_converter(type_name)) is not None
        ]
        if not converters:
            return [dict(zip(names, row, strict=True)) for row in rows]
        result = []
        for row in rows:
            values = list(row)
            for index, convert in converters:
                values[index] = convert(values[index])
            result.append(dict(zip(names, values, strict=True)))
        return result

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """One columnar INSERT of ``rows`` through the native protocol (``Client.insert_rows``)."""
        validate_table(table)
        names = column_list(columns)
        rows = rows if isinstance(rows, list | tuple) else list(rows)  # consumed before sending
        if not rows:
            return
        check_rows(columns, rows)
        types = self._types.types(table, columns)
        sql = f"INSERT INTO {table} ({names}) VALUES"
        try:
            data = insert_columns(types, rows)
        except Exception as exc:
            raise classify_error(exc, sql) from exc
        with self._client() as client:
            try:
                client.execute(sql, data, columnar=True, types_check=self._types_check)
            except Exception as exc:
                raise classify_error(exc, sql) from exc

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        """``Client.insert_columns``: the rows of ``data`` through ``insert_rows`` (one INSERT).

        Raises:
            PermanentError: columns of different lengths; otherwise as ``insert_rows``.
            RetryableError: as ``insert_rows``.
        """
        self.prepare_columns(table, columns, data).run()

    def prepare_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> PreparedInsert:
        """``Client.prepare_columns``: the shape is checked now, the rows are sent by ``run``.

        Raises (here or from ``run``): as ``insert_columns``.
        """
        validate_table(table)
        column_list(columns)
        if not check_columns(columns, data):
            return PreparedInsert.empty()
        rows = list(zip(*data, strict=True))

        def run(starting: Starting) -> None:
            if starting is not None:
                starting()
            self.insert_rows(table, columns, rows)

        return PreparedInsert(run)

    def prepare_protobuf(self, insert: ProtobufInsert) -> PreparedInsert:
        """Not supported: ``insert_formats`` has no ``Protobuf`` (the schema file would have to
        be on the server, ClickHouse docs "format_schema").

        Raises:
            PermanentError: always.
        """
        raise PermanentError("ServerClient does not insert Protobuf data (see insert_formats)")

    def busy(self) -> bool:
        """``Client.busy``: never (pooled connections run statements side by side)."""
        return False

    def close(self) -> None:
        """Disconnect every pooled client (idempotent); clients in use close when returned."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for client in idle:
            _disconnect_quietly(client)

    # ---- internals ------------------------------------------------------------------------

    def _new_client(self) -> Any:
        from clickhouse_driver import Client
        from clickhouse_driver.errors import UnknownCompressionMethod

        try:
            return Client(self.host, settings=dict(self._settings), **self._kwargs)
        except UnknownCompressionMethod as exc:
            raise PermanentError(
                f"{exc}: install clickhouse-driver[lz4] or [zstd], or drop compression="
            ) from exc
        except TypeError as exc:
            raise PermanentError(f"invalid ClickHouse URL option: {exc}") from exc

    @contextmanager
    def _client(self) -> Iterator[Any]:
        with self._lock:
            if self._closed:
                raise RetryableError("ClickHouse engine is closed")
            client = self._idle.pop() if self._idle else None
        if client is None:
            client = self._new_client()
        try:
            yield client
        finally:
            with self._lock:
                keep = not self._closed and len(self._idle) < _IDLE_CLIENTS
                if keep:
                    self._idle.append(client)
            if not keep:
                _disconnect_quietly(client)

    def _execute(self, sql: str, params: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        query, values = to_driver_query(sql, params)
        settings = None
        size = len(query.encode()) + (2 * len(repr(values)) if values else 0)
        if size > _DEFAULT_MAX_QUERY_SIZE // 2:
            # Rendered parameters count towards max_query_size (server-side ones would not).
            settings = {"max_query_size": max(_DEFAULT_MAX_QUERY_SIZE, 2 * size)}
        with self._client() as client:
            try:
                return client.execute(query, values, settings=settings, **kwargs)
            except Exception as exc:
                raise classify_error(exc, sql) from exc


def _disconnect_quietly(client: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken socket; nothing useful to report
        client.disconnect()
