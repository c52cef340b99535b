"""Every ``observations`` write and read path is derived from ``schema.OBSERVATION_SCHEMA``.

Adding a column means a proto field, one migration and one ``schema.Column``: these tests fail
when the migrated table and the schema disagree, or when any path (row tuple, columns, Arrow,
Protobuf structure and ``SELECT``, the merge reader) does not list exactly the schema's columns.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from storage.clickhouse.arrow import encode_arrow_stream
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.observation_reader import (
    STORED_OBSERVATION_COLUMNS,
    STORED_OBSERVATION_FIELDS,
    ObservationReader,
    stored_column,
)
from storage.clickhouse.rows import (
    OBSERVATION_COLUMNS,
    OBSERVATION_PROTO_MESSAGE,
    OBSERVATION_PROTO_STRUCTURE,
    content_hash,
    observation_columns,
    observation_proto_schema,
    observation_row,
    observation_select,
    proto_structure_column,
)
from storage.clickhouse.schema import OBSERVATION_SCHEMA, Kind
from storage.clickhouse.writer import ClickHouseWriter
from storage.records import ObservationRecord, TraceFields
from tests.support.chdb import DATABASE
from tests.support.records import BASE_US, generation, new_id

NAMES = [c.name for c in OBSERVATION_SCHEMA]
RECORD_COLUMNS = [c for c in OBSERVATION_SCHEMA if not c.bookkeeping]
NOT_STORED = {
    "partial",
    "trace_only",
    "from_log",
    "enriched",
    "trace.public",
    "trace.input",
    "trace.output",
    "trace.metadata",
}
"""Record fields without an ``observations`` column (merge flags; trace-level fields kept only in
``traces``)."""


def _row(record: ObservationRecord) -> dict[str, Any]:
    return observation_row(
        record,
        record_hash=content_hash(record),
        created_at_us=BASE_US,
        updated_at_us=BASE_US + 1,
        event_ts_us=BASE_US + 2,
    )


def test_migrated_table_has_exactly_the_schema_columns(client: ChdbClient) -> None:
    rows = client.select(
        "SELECT name, type FROM system.columns"
        " WHERE database = {db:String} AND table = 'observations' ORDER BY position",
        {"db": DATABASE},
    )
    assert [(r["name"], r["type"]) for r in rows] == [(c.name, c.type) for c in OBSERVATION_SCHEMA]


def test_schema_fields_are_record_fields() -> None:
    record_fields = set(ObservationRecord.DESCRIPTOR.fields_by_name)
    trace_fields = {f"trace.{name}" for name in TraceFields.DESCRIPTOR.fields_by_name}
    columns = {c.field for c in RECORD_COLUMNS}
    assert columns <= (record_fields | trace_fields) - {"trace"}
    assert len(columns) == len(RECORD_COLUMNS)  # one column per field
    # every stored record field has its column (a new proto field needs one, or a NOT_STORED
    # entry with the reason)
    assert (record_fields | trace_fields) - {"trace"} - NOT_STORED == columns
    assert all(c.field == "" for c in OBSERVATION_SCHEMA if c.bookkeeping)
    assert all(c.default for c in OBSERVATION_SCHEMA if c.kind is Kind.DEFAULTED)


def test_row_tuple_and_columns_follow_the_schema() -> None:
    records = [generation("p", new_id(32)), generation("p", new_id(32))]
    assert list(OBSERVATION_COLUMNS) == NAMES
    row = _row(records[0])
    assert list(row) == NAMES
    assert len(tuple(row.values())) == len(OBSERVATION_SCHEMA)
    columns = observation_columns(
        records,
        record_hashes=[content_hash(records[0]), 2],
        created_at_us=[BASE_US, BASE_US],
        updated_at_us=BASE_US + 1,
        event_ts_us=BASE_US + 2,
    )
    assert list(columns) == NAMES
    assert [values[0] for values in columns.values()] == list(row.values())
    assert all(len(values) == 2 for values in columns.values())


def test_arrow_stream_has_the_schema_fields() -> None:
    columns = observation_columns(
        [generation("p", new_id(32))],
        record_hashes=[1],
        created_at_us=[BASE_US],
        updated_at_us=BASE_US,
        event_ts_us=BASE_US,
    )
    payload = encode_arrow_stream(
        list(columns), [c.type for c in OBSERVATION_SCHEMA], list(columns.values())
    )
    assert payload is not None  # every observations type has an exact Arrow form
    table = pa.ipc.open_stream(payload).read_all()
    assert table.schema.names == NAMES
    assert table.num_rows == 1


def test_protobuf_structure_and_select_follow_the_schema() -> None:
    structure = [
        field for c in OBSERVATION_SCHEMA if (field := proto_structure_column(c)) is not None
    ]
    assert ", ".join(f"{name} {kind}" for name, kind in structure) == OBSERVATION_PROTO_STRUCTURE
    constant = {Kind.UPDATED_AT, Kind.EVENT_TS, Kind.IS_DELETED}
    assert len(structure) == len([c for c in OBSERVATION_SCHEMA if c.kind not in constant])

    # every structure field names a field of the .proto ClickHouse decodes with
    schema = observation_proto_schema()
    envelope = re.search(rf"message {OBSERVATION_PROTO_MESSAGE} \{{(.*?)\}}", schema, re.S)
    assert envelope is not None
    envelope_fields = set(re.findall(r"\s(\w+) = \d+;", envelope.group(1)))
    for column in OBSERVATION_SCHEMA:
        field = proto_structure_column(column)
        if field is None:
            continue
        name = field[0]
        if column.bookkeeping:
            assert name in envelope_fields
        else:
            path = column.field.split(".")
            assert name == "record_" + "_".join(path)
            descriptor = ObservationRecord.DESCRIPTOR
            for part in path[:-1]:
                message = descriptor.fields_by_name[part].message_type
                assert message is not None
                descriptor = message
            assert path[-1] in descriptor.fields_by_name

    select = observation_select(BASE_US, BASE_US + 1)
    assert len(select) == len(OBSERVATION_SCHEMA)
    for column, expression in zip(OBSERVATION_SCHEMA, select, strict=True):
        field = proto_structure_column(column)
        if field is not None:
            assert field[0] in expression


def test_protobuf_insert_fills_every_schema_column(client: ChdbClient, project_id: str) -> None:
    record = generation(project_id, new_id(32), trace={"user_id": "u", "tags": ["t"]})
    ClickHouseWriter(client, database=DATABASE).write_observations([record])
    rows = client.select(
        f"SELECT * FROM {DATABASE}.observations FINAL WHERE project_id = {{p:String}}",
        {"p": project_id},
    )
    assert len(rows) == 1 and list(rows[0]) == NAMES


def test_reader_reads_the_schema_fields_back(client: ChdbClient, project_id: str) -> None:
    read = [c for c in OBSERVATION_SCHEMA if not (c.bookkeeping or c.enrichment)]
    assert list(STORED_OBSERVATION_FIELDS) == [c.field for c in read]
    expressions = [e for c in read if (e := stored_column(c)) is not None]
    assert ", ".join(expression for expression, _ in expressions) == STORED_OBSERVATION_COLUMNS

    record = generation(
        project_id,
        new_id(32),
        trace={"user_id": "u", "session_id": "s", "name": "n", "tags": ["b", "a"]},
        parent_observation_id=new_id(),
        status_message="ok",
        version="v1",
        release="r1",
        prompt_id="pi",
        prompt_name="pn",
        prompt_version=3,
        completion_start_time_us=BASE_US + 5,
        provided_cost_details={"input": "0.5"},
    )
    record.trace.is_root = True
    ClickHouseWriter(client, database=DATABASE).write_observations([record])
    found = ObservationReader(client, DATABASE).read([(project_id, record.id)])
    (stored,) = found[(project_id, record.id)]
    expected = ObservationRecord()
    expected.trace.SetInParent()
    for column in read:
        source: Any = record
        target: Any = expected
        *parents, name = column.field.split(".")
        for parent in parents:
            source, target = getattr(source, parent), getattr(target, parent)
        if column.kind in (Kind.MAP, Kind.MONEY_MAP):
            getattr(target, name).update(getattr(source, name))
        elif column.kind is Kind.LIST:
            getattr(target, name).extend(getattr(source, name))
        elif column.kind not in (Kind.OPTIONAL, Kind.OPTIONAL_TIME) or source.HasField(name):
            setattr(target, name, getattr(source, name))
    assert stored == expected
