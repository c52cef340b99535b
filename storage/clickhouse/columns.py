"""Client-neutral insert rows: validation and the column types behind them.

``Client.insert_rows(table, columns, rows)`` takes plain Python values (see ``client.Client``);
each client adapts them to the column types, which it learns once per table from
``system.columns`` and caches here. The cache is refreshed when an insert names a column it does
not know (a migration added it); a column whose *type* a migration changed keeps its old type
until the process restarts (or ``ColumnTypes.forget`` is called).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

from storage.errors import PermanentError, RetryableError

__all__ = [
    "ColumnTypes",
    "check_columns",
    "check_rows",
    "column_list",
    "system_columns",
    "validate_table",
]

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

Fetch = Callable[[str | None, str], dict[str, str]]
"""``(database or None for the current one, table) -> {column name: type name}``."""


def validate_table(table: str) -> tuple[str | None, str]:
    """``"db.name"`` -> ``("db", "name")``; ``"name"`` -> ``(None, "name")``.

    Raises:
        PermanentError: not a plain (optionally database-qualified) identifier.
    """
    if not _TABLE.match(table):
        raise PermanentError(f"invalid table name {table!r}")
    database, _, name = table.rpartition(".")
    return database or None, name


def column_list(columns: Sequence[str]) -> str:
    """``["a", "n.b"]`` -> ``"`a`, `n.b`"`` for an ``INSERT INTO t (...)``.

    Raises:
        PermanentError: no columns, a duplicate, or a name that is not an identifier.
    """
    if not columns:
        raise PermanentError("an insert needs at least one column")
    if len(set(columns)) != len(columns):
        raise PermanentError(f"duplicate column in {list(columns)!r}")
    for column in columns:
        if not _COLUMN.match(column):
            raise PermanentError(f"invalid column name {column!r}")
    return ", ".join(f"`{c}`" for c in columns)


def check_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Every row must hold exactly one value per column.

    Raises:
        PermanentError: a row of another length (its index is in the message).
    """
    width = len(columns)
    for index, row in enumerate(rows):
        if len(row) != width:
            raise PermanentError(
                f"insert row {index} has {len(row)} values for {width} columns {list(columns)!r}"
            )


def check_columns(columns: Sequence[str], data: Sequence[Sequence[Any]]) -> int:
    """The number of rows of column-oriented ``data`` (``Client.insert_columns``).

    Raises:
        PermanentError: not one value list per column, or lists of different lengths.
    """
    if len(data) != len(columns):
        raise PermanentError(f"insert has {len(data)} value lists for {len(columns)} columns")
    lengths = {len(values) for values in data}
    if len(lengths) > 1:
        raise PermanentError(
            f"insert columns {list(columns)!r} have different lengths {[len(v) for v in data]}"
        )
    return lengths.pop() if lengths else 0


class ColumnTypes:
    """Thread-safe cache of ``{column: type}`` per table, filled by ``fetch``.

    Args:
        fetch: reads a table's columns (typically from ``system.columns``); it raises
            ``RetryableError``/``PermanentError`` like any client call.
    """

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._tables: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def types(self, table: str, columns: Sequence[str]) -> list[str]:
        """The type names of ``columns`` of ``table`` (``db.name``), in the given order.

        Raises:
            RetryableError: the table does not exist (yet); nothing is cached.
            PermanentError: a column does not exist in the table.
        """
        known = self._tables.get(table)
        if known is None or any(c not in known for c in columns):
            known = self._load(table)
        missing = [c for c in columns if c not in known]
        if missing:
            raise PermanentError(f"no such column(s) {missing!r} in table {table}")
        return [known[c] for c in columns]

    def forget(self, table: str | None = None) -> None:
        """Drop the cached types of ``table`` (all tables when ``None``)."""
        with self._lock:
            if table is None:
                self._tables.clear()
            else:
                self._tables.pop(table, None)

    def _load(self, table: str) -> dict[str, str]:
        database, name = validate_table(table)
        found = self._fetch(database, name)
        if not found:
            raise RetryableError(f"ClickHouse table {table} does not exist (yet)")
        with self._lock:
            self._tables[table] = found
        return found


def system_columns(select: Callable[..., list[dict[str, Any]]]) -> Fetch:
    """A ``Fetch`` reading ``system.columns`` through a client's ``select(sql, params)``."""

    def fetch(database: str | None, table: str) -> dict[str, str]:
        where_db = "currentDatabase()" if database is None else "{db:String}"
        rows = select(
            "SELECT name, type FROM system.columns"
            f" WHERE database = {where_db} AND table = {{table:String}}",
            {"table": table} if database is None else {"db": database, "table": table},
        )
        return {str(r["name"]): str(r["type"]) for r in rows}

    return fetch
