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

Beyond ``Engine``, ``ChdbEngine`` implements ``ColumnarEngine.insert_columns`` (column-oriented
data, sent as Arrow) and ``ProtobufEngine`` (rows ClickHouse decodes from protobuf messages, and
inserts prepared in one thread and run in another); callers check with ``isinstance``.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

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
from storage.clickhouse.types import Converter, build_converter, split_type
from storage.errors import PermanentError, RetryableError

__all__ = [
    "ChdbEngine",
    "ColumnarEngine",
    "Engine",
    "PreparedInsert",
    "ProtobufEngine",
    "check_columns",
    "classify_error",
    "datetime_us",
    "encode_param",
]

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


@runtime_checkable
class ColumnarEngine(Engine, Protocol):
    """An ``Engine`` that also takes inserts column by column (``ChdbEngine``).

    Callers that hold their data as columns (the batch writer) use ``insert_columns`` when the
    engine has it and ``insert_rows(table, columns, zip(*data))`` otherwise.
    """

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        """Insert the rows whose values ``data`` holds column by column into ``table``.

        ``data[i]`` holds the values of ``columns[i]``; every column has one value per row. Same
        values (``Engine`` class docstring), statement and atomicity as ``insert_rows``; no
        rows (empty columns) does nothing. Rows of one call that share a ReplacingMergeTree
        sorting key may stay apart until a merge (``FINAL`` collapses them as usual).

        Raises:
            PermanentError: as ``insert_rows``; also columns of different lengths.
            RetryableError: as ``insert_rows``.
        """
        ...


Starting = Callable[[], None] | None
"""Called right before an insert hands over to ClickHouse (which runs outside the GIL)."""


class PreparedInsert:
    """An INSERT whose data is encoded (``ProtobufEngine.prepare_*``): ``run`` sends it with
    almost no Python work left, so a caller can overlap it with work in another thread.

    Call ``run`` at most once; ``discard`` (also after ``run``; idempotent) releases the data
    when ``run`` is not called.
    """

    def __init__(self, run: Callable[[Starting], None], data_file: Path | None = None) -> None:
        self._run: Callable[[Starting], None] | None = run
        self._data_file = data_file

    def run(self, starting: Starting = None) -> None:
        """Run the INSERT (once); ``starting()`` is called right before ClickHouse gets it
        (also when there is nothing to insert).

        Raises:
            PermanentError, RetryableError: as ``Engine.insert_rows``.
        """
        run, self._run = self._run, None
        if run is None:
            raise RuntimeError("a prepared insert runs once")
        try:
            run(starting)
        finally:
            self.discard()

    def discard(self) -> None:
        """Delete the prepared data (idempotent)."""
        self._run = None
        if self._data_file is not None:
            self._data_file.unlink(missing_ok=True)
            self._data_file = None


def _nothing(starting: Starting) -> None:
    if starting is not None:
        starting()


@runtime_checkable
class ProtobufEngine(ColumnarEngine, Protocol):
    """A ``ColumnarEngine`` that also inserts rows ClickHouse decodes from protobuf messages,
    and prepares inserts to run later (``ChdbEngine``)."""

    def prepare_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> PreparedInsert:
        """``insert_columns``, encoded now and run by ``PreparedInsert.run``.

        Raises (here or from ``run``): as ``insert_columns``.
        """
        ...

    def prepare_protobuf(
        self,
        table: str,
        columns: Sequence[str],
        expressions: Sequence[str],
        *,
        structure: str,
        schema: str,
        message: str,
        payload: bytes,
    ) -> PreparedInsert:
        """``INSERT INTO table (columns) SELECT expressions FROM`` the length-delimited
        ``message`` messages in ``payload`` (ClickHouse's ``Protobuf`` format), decoded with the
        ``.proto`` text ``schema`` into ``structure`` (``"name Type, ..."``, fields matched by
        name), ready to ``run``. One INSERT, with ``insert_columns``' settings; an empty
        payload does nothing.

        ``expressions`` are SQL written by the caller (never user values).

        Raises (here or from ``run``):
            PermanentError: bad names, or data ClickHouse cannot decode or convert.
            RetryableError: as ``insert_rows``.
        """
        ...


def check_columns(columns: Sequence[str], data: Sequence[Sequence[Any]]) -> int:
    """The number of rows of column-oriented ``data`` (``insert_columns``).

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


# ---- Arrow (insert_columns) -------------------------------------------------------------------


@cache
def _pyarrow() -> Any:
    import pyarrow  # ships with chdb; imported on first use (~0.1 s)

    return pyarrow


@dataclass(frozen=True, slots=True)
class _ArrowSpec:
    """How the values of one ClickHouse type become an Arrow array that chdb converts exactly."""

    arrow_type: Any
    nullable: bool = False
    children: tuple[_ArrowSpec, ...] = ()
    """``Array``: (element,); ``Map``: (key, value)."""


_ARROW_INTS = {
    "UInt8": "uint8",
    "UInt16": "uint16",
    "UInt32": "uint32",
    "UInt64": "uint64",
    "Int8": "int8",
    "Int16": "int16",
    "Int32": "int32",
    "Int64": "int64",
    "Float32": "float32",
    "Float64": "float64",
}
_DECIMAL_FAMILIES = frozenset({"Decimal", "Decimal32", "Decimal64", "Decimal128", "Decimal256"})


@lru_cache(maxsize=1024)
def _arrow_spec(type_name: str) -> _ArrowSpec | None:
    """The Arrow form of ``type_name``; None when ``insert_columns`` should use the JSON path.

    Each mapping was checked to round-trip exactly through chdb's ArrowStream input: strings
    (also into ``LowCardinality`` and ``Decimal``, which ClickHouse parses like JSONEachRow
    text), integers, floats, bools, dates, and times as ``timestamp[us, UTC]`` (Unix µs ints
    or datetimes, naive = UTC; ClickHouse truncates to the column's precision).
    """
    pa = _pyarrow()
    family, args = split_type(type_name)
    if family == "LowCardinality" and args:
        return _arrow_spec(args[0])
    if family == "Nullable" and args:
        inner = _arrow_spec(args[0])
        return None if inner is None else _ArrowSpec(inner.arrow_type, True, inner.children)
    if family == "Array" and len(args) == 1:
        element = _arrow_spec(args[0])
        return (
            None if element is None else _ArrowSpec(pa.list_(element.arrow_type), False, (element,))
        )
    if family == "Map" and len(args) == 2:
        key, value = _arrow_spec(args[0]), _arrow_spec(args[1])
        if key is None or value is None:
            return None
        return _ArrowSpec(pa.map_(key.arrow_type, value.arrow_type), False, (key, value))
    if args and family not in _DECIMAL_FAMILIES and family not in ("DateTime64", "DateTime"):
        return None
    if family == "String" or family in _DECIMAL_FAMILIES:
        return _ArrowSpec(pa.string())
    if family in ("DateTime64", "DateTime"):
        return _ArrowSpec(pa.timestamp("us", tz="UTC"))
    if family in ("Date", "Date32"):
        return _ArrowSpec(pa.date32())
    if family == "Bool":
        return _ArrowSpec(pa.bool_())
    if family in _ARROW_INTS:
        return _ArrowSpec(getattr(pa, _ARROW_INTS[family])())
    return None  # Enum, FixedString, UUID, Tuple, ...: JSON path


def _decimal_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _bool_value(value: Any) -> Any:
    return bool(value) if type(value) is int else value


def _arrow_leaf(family: str, args: list[str]) -> Converter | None:
    if family in _DECIMAL_FAMILIES:
        return _decimal_value
    if family == "Bool":
        return _bool_value
    return None


@lru_cache(maxsize=1024)
def _arrow_normaliser(type_name: str) -> Converter | None:
    """Rewrites values pyarrow does not take as they are: ``Decimal``/numbers for a Decimal
    column -> text, ``int`` for a Bool column -> ``bool``. Used only when ``pa.array`` failed."""
    return build_converter(type_name, _arrow_leaf, leaf_passes_none=True)


def _arrow_array(values: Sequence[Any], type_name: str, spec: _ArrowSpec) -> Any:
    pa = _pyarrow()
    try:
        array = pa.array(values, type=spec.arrow_type)
    except (TypeError, ValueError, OverflowError):  # includes pyarrow's ArrowTypeError/Invalid
        normalise = _arrow_normaliser(type_name)
        if normalise is None:
            raise
        array = pa.array([normalise(v) for v in values], type=spec.arrow_type)
    return array


def _has_forbidden_null(array: Any, spec: _ArrowSpec) -> bool:
    """A null where ClickHouse's type is not Nullable (chdb would reject it as retryable)."""
    if array.null_count and not spec.nullable:
        return True
    if len(spec.children) == 1:
        return _has_forbidden_null(array.flatten(), spec.children[0])
    if len(spec.children) == 2:
        return _has_forbidden_null(array.keys, spec.children[0]) or _has_forbidden_null(
            array.items, spec.children[1]
        )
    return False


def encode_arrow_stream(
    columns: Sequence[str], types: Sequence[str], data: Sequence[Sequence[Any]]
) -> bytes | None:
    """``data`` (one value list per column) as Arrow IPC stream bytes for chdb's ArrowStream
    input, or None when a column type has no exact Arrow form (use the JSON path).

    Raises:
        PermanentError: a ``None`` in a non-Nullable position.
        TypeError/ValueError/OverflowError: a value pyarrow cannot convert (the caller
            classifies it as permanent).
    """
    specs = [_arrow_spec(type_name) for type_name in types]
    if any(spec is None for spec in specs):
        return None
    pa = _pyarrow()
    arrays = []
    for name, type_name, spec, values in zip(columns, types, specs, data, strict=True):
        assert spec is not None
        array = _arrow_array(values, type_name, spec)
        if _has_forbidden_null(array, spec):
            raise PermanentError(f"NULL value in column {name!r} of non-Nullable type {type_name}")
        arrays.append(array)
    table = pa.Table.from_arrays(arrays, names=list(columns))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    payload: bytes = sink.getvalue().to_pybytes()
    return payload


_INSERT_SETTINGS = "input_format_null_as_default = 0"
_PROTO_MESSAGE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_COLUMN_INSERT_SETTINGS = "input_format_null_as_default = 0, optimize_on_insert = 0"


class ChdbEngine:
    """Embedded ClickHouse (chdb 4.x) on one data folder; one instance per process.

    chdb allows only one data path per process (local-services.md §2(a)): open one
    ``ChdbEngine`` and share it. Calls are serialised by a lock (chdb serialises them anyway),
    so the engine is safe to use from worker threads. ``insert_rows`` streams JSONCompactEachRow
    lines encoded with orjson; ``insert_columns`` (``ColumnarEngine``) builds one Arrow array per
    column and streams them as ArrowStream (about 3x cheaper per row, in Python and in
    ClickHouse), falling back to JSON for column types without an exact Arrow form. Both use
    ``INSERT ... SETTINGS input_format_null_as_default = 0``, so a ``None`` in a non-Nullable
    column fails as it does over the native protocol.
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
        self._scratch = path / "otelfuse-inserts"  # prepare_protobuf's data and schema files
        self._scratch_names = itertools.count()
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
            return PreparedInsert(_nothing)
        types = self._types.types(table, columns)
        converters = [
            (i, convert)
            for i, type_name in enumerate(types)
            if (convert := _chdb_converter(type_name)) is not None
        ]
        try:
            payload = encode_json_rows(chain((first,), it), columns, converters)
        except (PermanentError, RetryableError):
            raise  # from the row producer: nothing was sent
        except Exception as exc:
            raise classify_error(exc, f"INSERT INTO {table}") from exc
        return self._prepare_file_insert(
            table, columns, types, settings, "JSONCompactEachRow", payload
        )

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        """One ArrowStream INSERT of column-oriented ``data`` (``ColumnarEngine``); columns of a
        type without an exact Arrow form (Enum, UUID, Tuple, ...) make it a JSON insert.

        Also sets ``optimize_on_insert = 0``: rows of one insert that share a ReplacingMergeTree
        sorting key are not collapsed while inserting (that merge step halves chdb's insert
        speed); merges and ``FINAL`` still collapse them, and the batch writer never inserts
        such duplicates.
        """
        self.prepare_columns(table, columns, data).run()

    def prepare_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> PreparedInsert:
        """``ProtobufEngine.prepare_columns``: ``insert_columns`` encoded now."""
        validate_table(table)
        names = column_list(columns)
        if not check_columns(columns, data):
            return PreparedInsert(_nothing)
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
            table, columns, types, _COLUMN_INSERT_SETTINGS, "ArrowStream", payload
        )

    def _prepare_file_insert(
        self,
        table: str,
        columns: Sequence[str],
        types: Sequence[str],
        settings: str,
        fmt: str,
        payload: bytes,
    ) -> PreparedInsert:
        """``INSERT ... SELECT * FROM file(...)`` of an encoded ``payload`` through the query
        path. chdb's streaming insert (``send_insert``) reports success for rows ClickHouse
        refuses while inserting (disk space below the threshold, a read-only table, too many
        parts), which would let the processor commit offsets of rows never written; the query
        path raises those errors. The payload goes through a scratch file, deleted afterwards.
        """
        structure = ", ".join(f"`{c}` {t}" for c, t in zip(columns, types, strict=True))
        sql = (
            f"INSERT INTO {table} ({column_list(columns)}) SELECT *"
            f" FROM file({{data_file:String}}, '{fmt}', {{structure:String}})"
            f" SETTINGS {settings}"
        )
        return self._insert_from_file(sql, structure, payload)

    def insert_protobuf(
        self,
        table: str,
        columns: Sequence[str],
        expressions: Sequence[str],
        *,
        structure: str,
        schema: str,
        message: str,
        payload: bytes,
    ) -> None:
        """``prepare_protobuf(...).run()``."""
        self.prepare_protobuf(
            table,
            columns,
            expressions,
            structure=structure,
            schema=schema,
            message=message,
            payload=payload,
        ).run()

    def prepare_protobuf(
        self,
        table: str,
        columns: Sequence[str],
        expressions: Sequence[str],
        *,
        structure: str,
        schema: str,
        message: str,
        payload: bytes,
    ) -> PreparedInsert:
        """``ProtobufEngine.prepare_protobuf``: ``payload`` goes through a file in the data
        folder (chdb's streaming insert takes no ``INSERT ... SELECT``), read with the
        ``file()`` table function and deleted afterwards."""
        validate_table(table)
        names = column_list(columns)
        if len(expressions) != len(columns):
            raise PermanentError(f"{len(expressions)} expressions for {len(columns)} columns")
        if not _PROTO_MESSAGE.match(message):
            raise PermanentError(f"invalid protobuf message name {message!r}")
        if not payload:
            return PreparedInsert(_nothing)
        schema_file = self._schema_file(schema)
        sql = (
            f"INSERT INTO {table} ({names}) SELECT {', '.join(expressions)}"
            " FROM file({data_file:String}, 'Protobuf', {structure:String})"
            f" SETTINGS format_schema = {_sql_string(f'{schema_file}:{message}')},"
            f" {_COLUMN_INSERT_SETTINGS}"
        )
        return self._insert_from_file(sql, structure, payload)

    def _insert_from_file(self, sql: str, structure: str, payload: bytes) -> PreparedInsert:
        """Write ``payload`` to a scratch file; the prepared ``sql`` reads it through the
        ``{data_file:String}`` / ``{structure:String}`` parameters; the file is deleted after
        the insert (or when discarded).

        Raises:
            RetryableError: the file cannot be written.
        """
        data_file = self._scratch / f"insert-{os.getpid()}-{next(self._scratch_names)}.bin"
        try:
            data_file.write_bytes(payload)
        except OSError as exc:
            data_file.unlink(missing_ok=True)
            raise RetryableError(f"cannot write {data_file}: {exc}") from exc
        params = {"data_file": str(data_file), "structure": structure}

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


def _sql_string(text: str) -> str:
    """``text`` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
