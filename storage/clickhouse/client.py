"""``Client``: the small interface every ClickHouse client implements (``ChdbClient``,
``ServerClient``).

SQL passed to a ``Client`` is standard ClickHouse SQL with server-side query parameters
(``{name:Type}`` placeholders, values in ``params``; ClickHouse docs, "Queries with parameters"),
so the same statements run on embedded chdb and on a ClickHouse server. User values are never
formatted into SQL text.

Error model (``storage.errors``, mapped by ``classify.classify_error``): failures the same
statement will always hit (syntax, unknown column/identifier/type/function, a value that cannot be
parsed or does not fit its column) raise ``PermanentError``; every other failure (I/O, network,
memory, a locked data folder, a missing table that a migration will create, ...) raises
``RetryableError``.

Every client implements every method. What differs is declared, not discovered: ``insert_formats``
names the ClickHouse input formats (ClickHouse docs, "Formats for Input and Output Data") the
client sends insert data in; ``prepare_protobuf`` works only when it holds ``PROTOBUF``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from storage.clickhouse.prepared import PreparedInsert

__all__ = [
    "ARROW_STREAM",
    "JSON_COMPACT_EACH_ROW",
    "NATIVE",
    "PROTOBUF",
    "Client",
    "ProtobufInsert",
]

JSON_COMPACT_EACH_ROW = "JSONCompactEachRow"
"""``ChdbClient.insert_rows``' data format: one JSON array per row."""
ARROW_STREAM = "ArrowStream"
"""``ChdbClient.insert_columns``' data format: Apache Arrow IPC stream, one array per column."""
PROTOBUF = "Protobuf"
"""Length-delimited protobuf messages that ClickHouse decodes (``Client.prepare_protobuf``)."""
NATIVE = "Native"
"""ClickHouse's native protocol data blocks (``ServerClient``, clickhouse-driver)."""


@dataclass(frozen=True, slots=True)
class ProtobufInsert:
    """``INSERT INTO table (columns) SELECT expressions FROM`` the length-delimited ``message``
    messages in ``payload`` (ClickHouse's ``Protobuf`` format, ClickHouse docs "Protobuf"),
    decoded with the ``.proto`` text ``schema`` into ``structure`` (``"name Type, ..."``,
    fields matched by name). ``expressions`` are SQL written by the caller (never user
    values)."""

    table: str
    columns: Sequence[str]
    expressions: Sequence[str]
    structure: str
    schema: str
    message: str
    payload: bytes


class Client(Protocol):
    """A synchronous ClickHouse connection; calls block, so run them off the event loop.

    Implementations are thread-safe. ``params`` fill ``{name:Type}`` placeholders; values are
    Python ``str``, ``int``, ``float``, ``bool``, ``Decimal`` or a list/tuple of those (for
    ``Array(...)``). All methods raise ``PermanentError`` or ``RetryableError``.

    Insert values (``insert_rows``, ``insert_columns``), by column type:

    - ``String``, ``LowCardinality(String)``, ``Enum``: ``str``;
    - ``(U)Int*``, ``Bool``: ``int``/``bool``; ``Float*``: ``float`` or ``int``;
    - ``Decimal(P, S)``: ``Decimal``, ``int`` or decimal text (``"0.000123"``) with at most S
      fractional digits (round before inserting);
    - ``DateTime64(p)``/``DateTime``: ``int`` Unix **microseconds** (scaled to the column's
      precision, truncating), or a ``datetime`` (naive means UTC); ``Date``: ``datetime.date``;
    - ``Nullable(T)``: ``None`` or a ``T`` value (``None`` in a non-Nullable column is an error);
    - ``Array(T)``: list/tuple; ``Map(K, V)``: dict; ``Tuple(...)``: tuple.
    """

    insert_formats: frozenset[str]
    """The ClickHouse input formats this client sends insert data in (``PROTOBUF``, ...)."""

    merge_tree_settings: Mapping[str, int]
    """MergeTree table settings (ClickHouse docs, "MergeTree tables settings") this deployment
    needs on every table; ``apply_migrations`` sets them at each start. Empty for a server,
    whose own configuration governs its tables."""

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
        every client (cast Decimal with ``toString``, DateTime64 with ``toUnixTimestamp64Micro``).
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

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        """Insert the rows whose values ``data`` holds column by column into ``table``.

        ``data[i]`` holds the values of ``columns[i]``; every column has one value per row. Same
        values (class docstring), statement and atomicity as ``insert_rows``; no rows (empty
        columns) does nothing. Rows of one call that share a ReplacingMergeTree sorting key may
        stay apart until a merge (``FINAL`` collapses them as usual).

        Raises:
            PermanentError: as ``insert_rows``; also columns of different lengths.
            RetryableError: as ``insert_rows``.
        """
        ...

    def prepare_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> PreparedInsert:
        """``insert_columns``, checked (and, where the client can, encoded) now and run by
        ``PreparedInsert.run``.

        Raises (here or from ``run``): as ``insert_columns``.
        """
        ...

    def prepare_protobuf(self, insert: ProtobufInsert) -> PreparedInsert:
        """``insert`` (``ProtobufInsert``), ready to ``run``. One INSERT, with
        ``insert_columns``' settings; an empty payload does nothing. Only for clients whose
        ``insert_formats`` hold ``PROTOBUF``.

        Raises (here or from ``run``):
            PermanentError: bad names, data ClickHouse cannot decode or convert, or a client
                without ``PROTOBUF`` in ``insert_formats``.
            RetryableError: as ``insert_rows``.
        """
        ...

    def busy(self) -> bool:
        """True while a statement holds a client that runs one at a time (embedded chdb), so a
        new statement would wait for it; never blocks. Health checks answer from it instead of
        queueing a ping behind a long insert."""
        ...

    def close(self) -> None:
        """Release the connection(s); further calls fail with ``RetryableError``."""
        ...
