"""``ChdbClient``: the ``Client`` on embedded ClickHouse (chdb), the default storage.

Rows go in as JSONCompactEachRow (``json_rows``), columns as ArrowStream (``arrow``), and
observation records as Protobuf messages ClickHouse decodes itself (``prepare_protobuf``). Every
insert reads its data from a scratch file in the data folder (chdb docs, "Session"): rows and
columns with ``INSERT ... FROM INFILE``, observation records with ``INSERT ... SELECT ... FROM
file(...)`` (ClickHouse docs, "file table function").
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from storage.clickhouse.arrow import encode_arrow_stream
from storage.clickhouse.classify import classify_error
from storage.clickhouse.client import ARROW_STREAM, JSON_COMPACT_EACH_ROW, PROTOBUF, ProtobufInsert
from storage.clickhouse.columns import (
    ColumnTypes,
    check_columns,
    column_list,
    system_columns,
    validate_table,
)
from storage.clickhouse.json_rows import chdb_converter, encode_json_rows
from storage.clickhouse.params import encode_param
from storage.clickhouse.prepared import PreparedInsert, Starting
from storage.errors import PermanentError, RetryableError

__all__ = ["ChdbClient"]

_INSERT_SETTINGS = "input_format_null_as_default = 0"
_PROTO_MESSAGE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_COLUMN_INSERT_SETTINGS = "input_format_null_as_default = 0, optimize_on_insert = 0"

SMALL_INSERT_BYTES = 4 * 1024 * 1024
"""An insert whose data is smaller than this (about 2,500 observation rows) runs with
``max_threads = 1`` (ClickHouse docs, "Settings": ``max_threads``): its pipeline (one file
read, one part written) then runs in the calling thread instead of being handed to two pool
threads. For the all-in-one's batches of a few hundred to ~1,000 records that is ≈ 7 % less
CPU per observation insert (26.6 → 24.8 ms at 1,000 records) and ≈ 9 % per trace insert
(8.8 → 8.0 ms); at 20,000 records the pool's overlap of reading and writing wins
(171.6 → 179.6 ms), so larger inserts keep the default (docs/benchmarks.md "ClickHouse work
per insert", ``bench.insert_costs``)."""

_MIB = 1024 * 1024
EMBEDDED_SERVER_SETTINGS: Mapping[str, int] = {
    "mark_cache_size": 64 * _MIB,
    "index_mark_cache_size": 16 * _MIB,
    "primary_index_cache_size": 64 * _MIB,
    "query_condition_cache_size": 16 * _MIB,
}
"""Server settings of the embedded engine, passed as connection-string parameters (chdb
``connect``: they become clickhouse-local start-up arguments; ClickHouse docs, "Server
Settings"). ClickHouse's defaults are for a dedicated server, with 5 GiB mark and index caches;
the all-in-one shares its process with the receivers, so each cache gets a size that holds the
marks and primary indexes of tables of tens of millions of rows. Thread-pool sizes given this
way are not applied reliably by chdb 4.4 (the engine's pools may exist before the arguments
are read), so they are left alone: docs/benchmarks.md "Soak" has the thread counts."""

EMBEDDED_MERGE_TREE_SETTINGS: Mapping[str, int] = MappingProxyType(
    {"concurrent_part_removal_threshold": 1_000_000_000, "merge_selector_base": 10}
)
"""MergeTree settings of every embedded table (``Client.merge_tree_settings``; ClickHouse docs,
"MergeTree tables settings"), set by ``apply_migrations`` on new and existing data folders.

``concurrent_part_removal_threshold``: ClickHouse removes a
table's inactive parts in parallel once there are 100 of them, on the process-wide
parts-cleaning pool (up to 128 threads), and a pool's threads then stay for the life of the
process. The all-in-one writes small batches, so merges leave hundreds of inactive parts and
the pool grew by ~125 idle threads after ~20k spans; removed one after another (unlinking a
local folder per part) they cost no extra thread. Reproduction:
``tests/storage/clickhouse/test_chdb_threads.py``.

``merge_selector_base`` 5 → 10 (ClickHouse docs, "merge_selector_* MergeTree table settings":
it sets the write amplification of the Simple merge selector): a merge starts once the parts
to join add up to about ten, not five, times the largest of them, so each row is rewritten
about half as often. The all-in-one inserts a part per table every 50 ms window (a few
hundred to ~2,000 rows), and merging them was the engine's largest CPU cost (≈ 35 µs per
span, more than any Python stage). 300k records in batches of 1,000
(``bench.processor_step``): rows rewritten by merges 4.8 → 2.4 per stored row, merge CPU
≈ 37 → 21 µs per record, most active parts seen 20 → 23; docs/benchmarks.md "ClickHouse merges
per row". Merges only join parts: what reads (``FINAL``) return is the same."""


class ChdbClient:
    """Embedded ClickHouse (chdb 4.x) on one data folder; one instance per process.

    chdb allows only one data path per process (docs/reference/test-services.md §2(a)): open one
    ``ChdbClient`` and share it. Calls are serialised by a lock (chdb serialises them anyway),
    so the client is safe to use from worker threads. ``insert_rows`` streams JSONCompactEachRow
    lines encoded with orjson; ``insert_columns`` builds one Arrow array per
    column and streams them as ArrowStream (about 3x cheaper per row, in Python and in
    ClickHouse), falling back to JSON for column types without an exact Arrow form. Both use
    ``INSERT ... SETTINGS input_format_null_as_default = 0``, so a ``None`` in a non-Nullable
    column fails as it does over the native protocol.
    """

    insert_formats: frozenset[str] = frozenset({JSON_COMPACT_EACH_ROW, ARROW_STREAM, PROTOBUF})
    """``Client.insert_formats``: JSON rows, Arrow columns and Protobuf messages."""

    merge_tree_settings: Mapping[str, int] = EMBEDDED_MERGE_TREE_SETTINGS
    """``Client.merge_tree_settings``: ``EMBEDDED_MERGE_TREE_SETTINGS``."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the data folder ``path``.

        Raises:
            RetryableError: the folder is locked by another process or cannot be opened.
            PermanentError: this process already uses chdb with a different data path.
        """
        import chdb.session  # imported lazily: loading the 500 MB library takes ~0.3 s

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._scratch = path / "otelfuse-inserts"  # prepare_protobuf's data and schema files
        self._scratch_names = itertools.count()
        self._lock = threading.Lock()
        self._types = ColumnTypes(system_columns(self.select))
        session_cls: Any = chdb.session.Session  # chdb ships py.typed but no annotations
        try:
            parameters = "&".join(f"{k}={v}" for k, v in EMBEDDED_SERVER_SETTINGS.items())
            self._session: Any = session_cls(f"{path.resolve()}?{parameters}")
        except Exception as exc:
            message = f"cannot open chdb data folder {path}: {exc}"
            if "already initialized with path" in str(exc):
                # a second data path in one process: a wiring bug, not a transient failure
                raise PermanentError(message) from exc
            raise RetryableError(message) from exc
        # The folder is ours now (chdb locks it): data files left by a crashed process can go.
        try:
            self._scratch.mkdir(exist_ok=True)
            for stale in self._scratch.glob("insert-*"):
                stale.unlink(missing_ok=True)
        except OSError as exc:
            self._session.close()
            raise RetryableError(f"cannot prepare {self._scratch}: {exc}") from exc

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
        self._insert_json(table, columns, rows, _INSERT_SETTINGS)

    def _insert_json(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], settings: str
    ) -> None:
        self._prepare_json(table, columns, rows, settings).run()

    def _prepare_json(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], settings: str
    ) -> PreparedInsert:
        validate_table(table)
        column_list(columns)  # raises on invalid names before any lookup
        it: Iterator[Sequence[Any]] = iter(rows)
        first = next(it, None)
        if first is None:
            return PreparedInsert.empty()
        types = self._types.types(table, columns)
        converters = [
            (i, convert)
            for i, type_name in enumerate(types)
            if (convert := chdb_converter(type_name)) is not None
        ]
        try:
            payload = encode_json_rows(chain((first,), it), columns, converters)
        except (PermanentError, RetryableError):
            raise  # from the row producer: nothing was sent
        except Exception as exc:
            raise classify_error(exc, f"INSERT INTO {table}") from exc
        return self._prepare_file_insert(table, columns, settings, "JSONCompactEachRow", payload)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        """One ArrowStream INSERT of column-oriented ``data`` (``Client.insert_columns``);
        columns of a type without an exact Arrow form (Enum, UUID, Tuple, ...) make it a JSON
        insert.

        Also sets ``optimize_on_insert = 0``: rows of one insert that share a ReplacingMergeTree
        sorting key are not collapsed while inserting (that merge step halves chdb's insert
        speed); merges and ``FINAL`` still collapse them, and the batch writer never inserts
        such duplicates.
        """
        self.prepare_columns(table, columns, data).run()

    def prepare_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> PreparedInsert:
        """``Client.prepare_columns``: ``insert_columns`` encoded now."""
        validate_table(table)
        names = column_list(columns)
        if not check_columns(columns, data):
            return PreparedInsert.empty()
        types = self._types.types(table, columns)
        try:
            payload = encode_arrow_stream(columns, types, data)
        except PermanentError:
            raise
        except Exception as exc:
            raise classify_error(exc, f"INSERT INTO {table} ({names})") from exc
        if payload is None:
            rows = zip(*data, strict=True)
            return self._prepare_json(table, columns, rows, _COLUMN_INSERT_SETTINGS)
        return self._prepare_file_insert(
            table, columns, _COLUMN_INSERT_SETTINGS, "ArrowStream", payload
        )

    def _prepare_file_insert(
        self,
        table: str,
        columns: Sequence[str],
        settings: str,
        fmt: str,
        payload: bytes,
    ) -> PreparedInsert:
        """``INSERT ... FROM INFILE ... FORMAT fmt`` of an encoded ``payload`` through the query
        path. chdb's streaming insert (``send_insert``) reports success for rows ClickHouse
        refuses while inserting (disk space below the threshold, a read-only table, too many
        parts), which would let the processor commit offsets of rows never written; the query
        path raises those errors. The payload goes through a scratch file, deleted afterwards.

        ``FROM INFILE`` (ClickHouse docs, "INSERT INTO ... FROM INFILE") parses the file
        straight into the table's columns; the ``INSERT ... SELECT * FROM file(..., structure)``
        used before stored the same rows but planned a ``SELECT`` over every column as well:
        a trace-row insert took ≈ 17–20 % more CPU (8.3 → 6.9 ms at 333 rows, 8.0 → 6.4 ms at
        67; docs/benchmarks.md "ClickHouse work per insert"). ``payload`` was encoded for the
        columns' own types (``ColumnTypes``), the types the old ``structure`` named.
        """
        sql = (
            f"INSERT INTO {table} ({column_list(columns)}) FROM INFILE {{data_file:String}}"
            f" SETTINGS {_sized(settings, payload)} FORMAT {fmt}"
        )
        return self._insert_from_file(sql, None, payload)

    def insert_protobuf(self, insert: ProtobufInsert) -> None:
        """``prepare_protobuf(insert).run()``."""
        self.prepare_protobuf(insert).run()

    def prepare_protobuf(self, insert: ProtobufInsert) -> PreparedInsert:
        """``Client.prepare_protobuf``: ``payload`` goes through a file in the data
        folder (chdb's streaming insert takes no ``INSERT ... SELECT``), read with the
        ``file()`` table function and deleted afterwards."""
        validate_table(insert.table)
        names = column_list(insert.columns)
        if len(insert.expressions) != len(insert.columns):
            raise PermanentError(
                f"{len(insert.expressions)} expressions for {len(insert.columns)} columns"
            )
        if not _PROTO_MESSAGE.match(insert.message):
            raise PermanentError(f"invalid protobuf message name {insert.message!r}")
        if not insert.payload:
            return PreparedInsert.empty()
        schema_file = self._schema_file(insert.schema)
        sql = (
            f"INSERT INTO {insert.table} ({names}) SELECT {', '.join(insert.expressions)}"
            " FROM file({data_file:String}, 'Protobuf', {structure:String})"
            f" SETTINGS format_schema = {_sql_string(f'{schema_file}:{insert.message}')},"
            f" {_sized(_COLUMN_INSERT_SETTINGS, insert.payload)}"
        )
        return self._insert_from_file(sql, insert.structure, insert.payload)

    def _insert_from_file(self, sql: str, structure: str | None, payload: bytes) -> PreparedInsert:
        """Write ``payload`` to a scratch file; the prepared ``sql`` names it where it says
        ``{data_file:String}``, replaced by the file's path as a string literal (``FROM INFILE``
        takes no query parameter, so every insert names it the same way), and reads
        ``structure``, when given, as the ``{structure:String}`` parameter; the file is
        deleted after the insert (or when discarded).

        Raises:
            RetryableError: the file cannot be written.
        """
        data_file = self._scratch / f"insert-{os.getpid()}-{next(self._scratch_names)}.bin"
        try:
            data_file.write_bytes(payload)
        except OSError as exc:
            data_file.unlink(missing_ok=True)
            raise RetryableError(f"cannot write {data_file}: {exc}") from exc
        sql = sql.replace("{data_file:String}", _sql_string(str(data_file)))
        params = None if structure is None else {"structure": structure}

        def run(starting: Starting) -> None:
            self._query(sql, params, "TSV", starting)

        return PreparedInsert(run, data_file)

    def _schema_file(self, schema: str) -> Path:
        """``schema`` saved under a name derived from its content (chdb caches schemas by path)."""
        digest = hashlib.sha256(schema.encode()).hexdigest()[:16]
        path = self._scratch / f"schema-{digest}.proto"
        if not path.exists():
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            try:
                temporary.write_text(schema)
                temporary.replace(path)
            except OSError as exc:
                raise RetryableError(f"cannot write {path}: {exc}") from exc
        return path

    def busy(self) -> bool:
        """``Client.busy``: a statement holds the session (chdb runs one at a time)."""
        return self._lock.locked()

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

    def _query(
        self,
        sql: str,
        params: Mapping[str, Any] | None,
        fmt: str,
        starting: Starting = None,
    ) -> bytes:
        encoded = {k: encode_param(v) for k, v in params.items()} if params else None
        with self._lock:
            session = self._open_session()
            if starting is not None:
                starting()
            try:
                result = session.query(sql, fmt, params=encoded)
            except Exception as exc:
                raise classify_error(exc, sql) from exc
        data: bytes = result.bytes()
        return data


def _sized(settings: str, payload: bytes) -> str:
    """``settings`` of an insert of ``payload``, with ``max_threads = 1`` when it is small
    (``SMALL_INSERT_BYTES``)."""
    return f"{settings}, max_threads = 1" if len(payload) < SMALL_INSERT_BYTES else settings


def _sql_string(text: str) -> str:
    """``text`` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
