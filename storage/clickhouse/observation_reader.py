"""Stored rows for the ingestion merge step (``processors.merge``; docs/reference/langfuse.md §3.4).

- ``ObservationReader.read(keys)``: the stored observation of each ``(project_id, id)`` as an
  ``ObservationRecord`` holding the client-provided fields (enrichment fields are left empty:
  the enricher recomputes them from the merged record). ONE query per call, ``FINAL``,
  project-scoped, ``is_deleted = 0``.
- trace-only records (trace-create events) are written by ``ClickHouseWriter.write_traces``.

Which columns are read, and how each becomes a record field, is derived from
``schema.OBSERVATION_SCHEMA``: money columns are read as decimal text (``toString``), times as
Unix µs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from storage.clickhouse.client import Client
from storage.clickhouse.keys import key_condition
from storage.clickhouse.schema import OBSERVATION_SCHEMA, Column, Kind
from storage.records import ObservationRecord

__all__ = [
    "STORED_OBSERVATION_COLUMNS",
    "STORED_OBSERVATION_FIELDS",
    "ObservationReader",
    "stored_column",
    "stored_record",
]

ObservationKey = tuple[str, str]
"""``(project_id, observation id)``."""


def stored_column(column: Column) -> tuple[str, str] | None:
    """``(SELECT expression, row key)`` reading ``column`` back for ``stored_record``, or None
    when the merge does not read it (bookkeeping, and enrichment the enricher recomputes).

    Times are read as Unix µs (``toUnixTimestamp64Micro``, keyed by the record field), money as
    decimal text (``toString``), everything else as the column itself.
    """
    if column.bookkeeping or column.enrichment:
        return None
    name = column.name
    if column.kind in (Kind.TIME, Kind.OPTIONAL_TIME):
        return f"toUnixTimestamp64Micro({name}) AS {column.field}", column.field
    if column.kind is Kind.MONEY_MAP:
        return f"mapApply((k, v) -> (k, toString(v)), {name}) AS {name}", name
    if column.kind is Kind.OPTIONAL_MONEY:
        return f"toString({name}) AS {name}", name
    return name, name


_Setter = Callable[[ObservationRecord, Mapping[str, Any]], None]


def _setter(column: Column, key: str) -> _Setter:
    """Sets ``column``'s record field from ``row[key]`` (JSON-typed values: 64-bit integers may
    arrive as text, so integer columns go through ``int``)."""
    trace_field = column.trace_field
    field = trace_field if trace_field is not None else column.field
    kind = column.kind
    integer = "Int" in column.type
    boolean = column.type == "Bool"

    def target(record: ObservationRecord) -> Any:
        return record.trace if trace_field is not None else record

    if kind in (Kind.MAP, Kind.MONEY_MAP):

        def update(record: ObservationRecord, row: Mapping[str, Any]) -> None:
            values = row[key]
            if integer:
                values = {k: int(v) for k, v in values.items()}
            getattr(target(record), field).update(values)

        return update
    if kind is Kind.LIST:

        def extend(record: ObservationRecord, row: Mapping[str, Any]) -> None:
            getattr(target(record), field).extend(row[key])

        return extend

    def assign(record: ObservationRecord, row: Mapping[str, Any]) -> None:
        value = row[key]
        if value is None:
            return  # NULL: an unset optional field
        if integer or kind in (Kind.TIME, Kind.OPTIONAL_TIME):
            value = int(value)
        elif boolean:
            value = bool(value)
        setattr(target(record), field, value)

    return assign


_STORED = [(c, read) for c in OBSERVATION_SCHEMA if (read := stored_column(c)) is not None]

STORED_OBSERVATION_COLUMNS = ", ".join(expression for _, (expression, _) in _STORED)
"""``SELECT`` list read by ``stored_record`` (derived from ``schema.OBSERVATION_SCHEMA``)."""

STORED_OBSERVATION_FIELDS: tuple[str, ...] = tuple(c.field for c, _ in _STORED)
"""The record fields ``stored_record`` fills, in schema order (``trace.<name>`` for trace
fields)."""

_SETTERS = [_setter(c, key) for c, (_, key) in _STORED]


def stored_record(row: Mapping[str, Any]) -> ObservationRecord:
    """The ``ObservationRecord`` of a row selected with ``STORED_OBSERVATION_COLUMNS``: the
    fields of ``STORED_OBSERVATION_FIELDS``; NULL leaves an optional field unset; ``trace`` is
    always present.

    Raises:
        KeyError: the row lacks a selected column.
    """
    record = ObservationRecord()
    record.trace.SetInParent()
    for set_field in _SETTERS:
        set_field(record, row)
    return record


class ObservationReader:
    """Reads the stored observations that partial records are merged onto.

    Args:
        client: the shared ClickHouse client.
        database: database holding the ``observations`` table.
    """

    def __init__(self, client: Client, database: str = "otelfuse") -> None:
        self._client = client
        self._db = database

    def read(self, keys: Iterable[ObservationKey]) -> dict[ObservationKey, list[ObservationRecord]]:
        """Stored observations per ``(project_id, id)``, most recently written first.

        One id normally has one row; several rows (same id in different traces, e.g. an OTLP
        span id reused by a legacy client) are all returned and the caller picks.

        Raises:
            RetryableError / PermanentError: from the client.
        """
        condition, params = key_condition(keys)  # as PREWHERE: see storage.clickhouse.keys
        if not params:
            return {}
        rows = self._client.select(
            f"SELECT {STORED_OBSERVATION_COLUMNS} FROM {self._db}.observations FINAL"
            f" PREWHERE {condition} WHERE is_deleted = 0 ORDER BY event_ts DESC",
            params,
        )
        found: dict[ObservationKey, list[ObservationRecord]] = {}
        for row in rows:
            found.setdefault((row["project_id"], row["id"]), []).append(stored_record(row))
        return found
