"""The small interface every ClickHouse backend implements, and its embedded (chdb) backend.

SQL passed to an ``Engine`` is standard ClickHouse SQL with server-side query parameters
(``{name:Type}`` placeholders, values in ``params``), so the same statements run on embedded
chdb and on a ClickHouse server (``storage.clickhouse.server``). User values are never formatted
into SQL text.

Error model (``storage.errors``, mapped by ``classify.classify_error``): failures the same
statement will always hit (syntax, unknown column/identifier/type/function, a value that cannot be
parsed or does not fit its column) raise ``PermanentError``; every other failure (I/O, network,
memory, a locked data folder, a missing table that a migration will create, ...) raises
``RetryableError``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import orjson

from storage.clickhouse.classify import classify_error
from storage.clickhouse.columns import (
    ColumnTypes,
    check_rows,
    column_list,
    system_columns,
    validate_table,
)
from storage.clickhouse.params import encode_param
from storage.clickhouse.types import Converter, build_converter
from storage.errors import PermanentError, RetryableError

__all__ = ["ChdbEngine", "Engine", "classify_error", "datetime_us", "encode_param"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Engine(Protocol):
    """A synchronous ClickHouse connection; calls block, so run them off the event loop.

    Implementations are thread-safe. ``params`` fill ``{name:Type}`` placeholders; values are
    Python ``str``, ``int``, ``float``, ``bool``, ``Decimal`` or a list/tuple of those (for
    ``Array(...)``). All methods raise ``PermanentError`` or ``RetryableError``.

    Insert values (``insert_rows``), by column type:

    - ``String``, ``LowCardinality(String)``, ``Enum``: ``str``;
    - ``(U)Int*``, ``Bool``: ``int``/``bool``; ``Float*``: ``float`` or ``int``;
    - ``Decimal(P, S)``: ``Decimal``, ``int`` or decimal text (``"0.000123"``) with at most S
      fractional digits (round before inserting);
    - ``DateTime64(p)``/``DateTime``: ``int`` Unix **microseconds** (scaled to the column's
      precision, truncating), or a ``datetime`` (naive means UTC); ``Date``: ``datetime.date``;
    - ``Nullable(T)``: ``None`` or a ``T`` value (``None`` in a non-Nullable column is an error);
    - ``Array(T)``: list/tuple; ``Map(K, V)``: dict; ``Tuple(...)``: tuple.
    """

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows (DDL, ``OPTIMIZE``, ``INSERT ... SELECT``...).

        ``INSERT ... VALUES`` with inline data is not portable (the native protocol sends data
        as blocks): use ``insert_rows``.
        """
        ...

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts (column name -> JSON-typed value).

        Values follow ClickHouse's JSONEachRow mapping: strings, ints, floats, bools, lists,
        dicts (Map) and None (Nullable). Callers select only types that map the same way on
        every backend (cast Decimal with ``toString``, DateTime64 with ``toUnixTimestamp64Micro``).
        """
        ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Insert ``rows`` (one value per column, in ``columns`` order) into ``table``.

        ``table`` is ``db.name`` (or ``name`` in the current database). One call is one INSERT
        (atomic for batches below ``max_insert_block_size`` rows, about 1M). An empty ``rows``
        does nothing. Value conventions: see the class docstring.

        ``rows`` may be a one-shot iterable (a generator). It is consumed completely before
        anything is sent, so an exception raised while producing a row (e.g. a
        ``PermanentError`` from a row builder) propagates unchanged and nothing is written.

        Raises:
            PermanentError: bad table/column name, unknown column, a row of the wrong length, or
                a value the column cannot hold.
            RetryableError: ClickHouse failed transiently, or the table does not exist (yet).
        """
        ...

    def close(self) -> None:
        """Release the connection(s); further calls fail with ``RetryableError``."""
        ...


def datetime_us(value: datetime) -> int:
    """Unix µs of ``value``; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


# ---- embedded chdb --------------------------------------------------------------------------


def _us_text(value: Any) -> Any:
    """Unix µs -> ``"1763770000.000001"``, which ClickHouse parses into any DateTime64 exactly
    and independently of the server time zone. Other values (``None``) pass unchanged."""
    if type(value) is int:
        # %-formatting of the divmod tuple is ~25% faster than an f-string here (hot path)
        if value >= 0:
            return "%d.%06d" % divmod(value, 1_000_000)  # noqa: UP031
        return "-%d.%06d" % divmod(-value, 1_000_000)  # noqa: UP031
    if isinstance(value, datetime):
        return _us_text(datetime_us(value))
    return value


def _us_seconds_text(value: Any) -> Any:
    """Unix µs -> whole Unix seconds as text (``DateTime``)."""
    if type(value) is int:
        return str(value // 1_000_000)
    if isinstance(value, datetime):
        return str(datetime_us(value) // 1_000_000)
    return value


def _chdb_leaf(family: str, args: list[str]) -> Converter | None:
    if family == "DateTime64":
        return _us_text
    if family == "DateTime":
        return _us_seconds_text
    return None


@lru_cache(maxsize=1024)
def _chdb_converter(type_name: str) -> Converter | None:
    return build_converter(type_name, _chdb_leaf, leaf_passes_none=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not a ClickHouse insert value")


def encode_json_rows(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[str],
    converters: Sequence[tuple[int, Converter]],
) -> bytes:
    """``rows`` as JSONCompactEachRow (one JSON array per line), after ``converters`` ran on
    their column index. Each row is encoded as soon as it is produced (cache-friendly).

    Raises:
        PermanentError: a row does not have ``len(columns)`` values.
        TypeError: a value orjson cannot encode (classified as permanent by the caller).
    """
    dumps = orjson.dumps
    width = len(columns)
    lines = []
    for row in rows:
        if len(row) != width:
            check_rows(columns, [row])  # raises with the details
        if converters:
            values = list(row)
            for index, convert in converters:
                values[index] = convert(values[index])
            lines.append(dumps(values, default=_json_default))
        else:
            lines.append(dumps(row, default=_json_default))
    return b"\n".join(lines)


class ChdbEngine:
    """Embedded ClickHouse (chdb 4.x) on one data folder; one instance per process.

    chdb allows only one data path per process (local-services.md §2(a)): open one
    ``ChdbEngine`` and share it. Calls are serialised by a lock (chdb serialises them anyway),
    so the engine is safe to use from worker threads. Inserts stream JSONCompactEachRow lines
    encoded with orjson (``INSERT ... SETTINGS input_format_null_as_default = 0``, so a ``None``
    in a non-Nullable column fails as it does over the native protocol).
    """

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the data folder ``path``.

        Raises:
            RetryableError: the folder is locked by another process or cannot be opened.
            PermanentError: this process already uses chdb with a different data path.
        """
        import chdb.session  # imported lazily: loading the 500 MB library takes ~0.3 s

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._types = ColumnTypes(system_columns(self.select))
        session_cls: Any = chdb.session.Session  # chdb ships py.typed but no annotations
        try:
            self._session: Any = session_cls(str(path))
        except Exception as exc:
            message = f"cannot open chdb data folder {path}: {exc}"
            if "already initialized with path" in str(exc):
                # a second data path in one process: a wiring bug, not a transient failure
                raise PermanentError(message) from exc
            raise RetryableError(message) from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows."""
        self._query(sql, params, "JSONEachRow")

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query; rows decoded from JSONEachRow with orjson."""
        data = self._query(sql, params, "JSONEachRow")
        return [orjson.loads(line) for line in data.split(b"\n") if line]

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Encode ``rows`` (as they are produced) and stream them into ``table`` as one
        JSONCompactEachRow INSERT."""
        validate_table(table)
        names = column_list(columns)
        it: Iterator[Sequence[Any]] = iter(rows)
        first = next(it, None)
        if first is None:
            return
        types = self._types.types(table, columns)
        converters = [
            (i, convert)
            for i, type_name in enumerate(types)
            if (convert := _chdb_converter(type_name)) is not None
        ]
        sql = f"INSERT INTO {table} ({names}) SETTINGS input_format_null_as_default = 0"
        try:
            payload = encode_json_rows(chain((first,), it), columns, converters)
        except (PermanentError, RetryableError):
            raise  # from the row producer: nothing was sent
        except Exception as exc:
            raise classify_error(exc, sql) from exc
        with self._lock:
            session = self._open_session()
            try:
                inserter = session.send_insert(sql, "JSONCompactEachRow")
                try:
                    inserter.append(payload)
                    inserter.finish()
                except BaseException:
                    _cancel_quietly(inserter)
                    raise
            except Exception as exc:
                raise classify_error(exc, sql) from exc

    def close(self) -> None:
        """Close the chdb session (idempotent)."""
        with self._lock:
            session, self._session = self._session, None
            if session is not None:
                session.close()

    def _open_session(self) -> Any:
        if self._session is None:
            raise RetryableError("ClickHouse engine is closed")
        return self._session

    def _query(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> bytes:
        encoded = {k: encode_param(v) for k, v in params.items()} if params else None
        with self._lock:
            session = self._open_session()
            try:
                result = session.query(sql, fmt, params=encoded)
            except Exception as exc:
                raise classify_error(exc, sql) from exc
        data: bytes = result.bytes()
        return data


def _cancel_quietly(inserter: Any) -> None:
    with contextlib.suppress(Exception):  # the insert already failed; cancel() errors add nothing
        inserter.cancel()
