"""The small interface every ClickHouse backend implements, and its embedded (chdb) backend.

SQL passed to an ``Engine`` is standard ClickHouse SQL with server-side query parameters
(``{name:Type}`` placeholders, values in ``params``), so the same statements run on embedded
chdb and on a ClickHouse server. User values are never formatted into SQL text.

Error model (``storage.errors``): failures the same statement will always hit (syntax, unknown
type or function, a value that cannot be parsed or does not fit its column) raise
``PermanentError``; every other failure (I/O, memory, a locked data folder, a missing table that
a migration will create, ...) raises ``RetryableError``.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from storage.errors import PermanentError, RetryableError

__all__ = ["ChdbEngine", "Engine", "classify_error", "encode_param"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_ERROR_CODE = re.compile(r"Code: (\d+)")

# ClickHouse error codes (src/Common/ErrorCodes.cpp) that mean "this statement or this data is
# wrong": retrying the same input can never succeed.
_PERMANENT_CODES: frozenset[int] = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        16,  # NO_SUCH_COLUMN_IN_TABLE
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        32,  # ATTEMPT_TO_READ_AFTER_EOF (truncated input row)
        36,  # BAD_ARGUMENTS
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        42,  # NUMBER_OF_ARGUMENTS_DOESNT_MATCH
        43,  # ILLEGAL_TYPE_OF_ARGUMENT
        44,  # ILLEGAL_COLUMN
        46,  # UNKNOWN_FUNCTION
        47,  # UNKNOWN_IDENTIFIER
        48,  # NOT_IMPLEMENTED
        50,  # UNKNOWN_TYPE
        53,  # TYPE_MISMATCH
        62,  # SYNTAX_ERROR
        69,  # ARGUMENT_OUT_OF_BOUND (e.g. Decimal too big)
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        73,  # UNKNOWN_FORMAT
        117,  # INCORRECT_DATA
        130,  # CANNOT_READ_ARRAY_FROM_TEXT
        131,  # TOO_LARGE_STRING_SIZE
        135,  # ZERO_ARRAY_OR_TUPLE_INDEX
        179,  # MULTIPLE_EXPRESSIONS_FOR_ALIAS
        190,  # SIZES_OF_ARRAYS_DONT_MATCH
        215,  # NOT_AN_AGGREGATE
        352,  # AMBIGUOUS_COLUMN_NAME
        386,  # NO_COMMON_TYPE
        407,  # DECIMAL_OVERFLOW
        456,  # UNKNOWN_QUERY_PARAMETER
        457,  # BAD_QUERY_PARAMETER
    }
)


def classify_error(exc: BaseException, sql: str) -> PermanentError | RetryableError:
    """Map a backend exception to ``PermanentError`` (bad statement/data) or ``RetryableError``.

    The ClickHouse error code is read from the message (``Code: NNN``); unknown failures are
    retryable, as the OpenTelemetry Collector treats them. ``sql`` is only used for the message
    (its first 200 characters; it never holds user values because values travel as parameters).
    """
    message = str(exc)
    match = _ERROR_CODE.search(message)
    code = int(match.group(1)) if match else None
    head = " ".join(sql.split())[:200]
    text = f"ClickHouse error{f' {code}' if code is not None else ''}: {message.strip()} [{head}]"
    if code is not None and code in _PERMANENT_CODES:
        return PermanentError(text)
    return RetryableError(text)


class Engine(Protocol):
    """A synchronous ClickHouse connection; calls block, so run them off the event loop.

    Implementations are thread-safe. ``params`` fill ``{name:Type}`` placeholders (server-side
    query parameters); values are Python ``str``, ``int``, ``float``, ``bool`` or a list/tuple of
    those (for ``Array(...)``). All methods raise ``PermanentError`` or ``RetryableError``.
    """

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows (DDL, ``OPTIMIZE``, ``DELETE``...)."""
        ...

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts (column name -> JSON-typed value).

        Values follow ClickHouse's JSONEachRow mapping: strings, ints, floats, bools, lists,
        dicts (Map) and None (Nullable). Callers select only types that map the same way on
        every backend (cast Decimal with ``toString``, DateTime64 with ``toUnixTimestamp64Micro``).
        """
        ...

    def insert_json_each_row(self, table: str, rows: Sequence[bytes]) -> None:
        """Insert rows into ``table`` (``db.name``); each item is one JSON object (no newline).

        One call is one INSERT (atomic for batches below ``max_insert_block_size`` rows).
        """
        ...

    def close(self) -> None:
        """Release the connection; further calls fail."""
        ...


def _escape_tsv(value: str) -> str:
    # Query parameters are parsed in ClickHouse's "Escaped" text format (as over HTTP).
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
    )


def _quote_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\")
            .replace("'", "\\'")
            .replace("\n", "\\n")
            .replace("\t", "\\t")
            .replace("\r", "\\r")
            .replace("\0", "\\0")
        )
        return f"'{escaped}'"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_quote_literal(v) for v in value) + "]"
    raise PermanentError(f"unsupported query parameter value of type {type(value).__name__}")


def encode_param(value: Any) -> str:
    """Encode a Python value as the text ClickHouse parses for a ``{name:Type}`` parameter.

    ``str`` -> Escaped text; ``bool`` -> ``true``/``false``; numbers -> decimal text;
    list/tuple -> an array literal of quoted values (``['a','b\\'c']``).
    """
    if isinstance(value, str):
        return _escape_tsv(value)
    return _quote_literal(value)


class ChdbEngine:
    """Embedded ClickHouse (chdb 4.x) on one data folder; one instance per process.

    chdb allows only one data path per process (local-services.md §2(a)): open one
    ``ChdbEngine`` and share it. Calls are serialised by a lock (chdb serialises them anyway),
    so the engine is safe to use from worker threads.
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

    def insert_json_each_row(self, table: str, rows: Sequence[bytes]) -> None:
        """Stream ``rows`` into ``table`` as one JSONEachRow INSERT."""
        if not _IDENTIFIER.match(table):
            raise PermanentError(f"invalid table name {table!r}")
        if not rows:
            return
        sql = f"INSERT INTO {table}"
        payload = b"\n".join(rows)
        with self._lock:
            session = self._open_session()
            try:
                inserter = session.send_insert(sql, "JSONEachRow")
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
