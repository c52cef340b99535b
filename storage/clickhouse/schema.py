"""The ``observations`` table's columns: ONE list every write and read path derives from.

Each ``Column`` names a ClickHouse column, its type exactly as ``system.columns`` reports it, and
how its value comes from an ``ObservationRecord`` (``proto/otelfuse/v1/records.proto``): the
record field and a ``Kind`` of conversion. Langfuse's observation columns (Langfuse repository,
``packages/shared/clickhouse/migrations/unclustered/0002_observations.up.sql``) with
``DateTime64(6)`` times, ``Decimal(18, 12)`` USD amounts and the trace-level and
instrumentation columns of this project.

Derived from ``OBSERVATION_SCHEMA`` (``tests/storage/clickhouse/test_schema.py`` checks each):

- ``rows.observation_columns`` / ``rows.observation_row``: the insert values, column by column;
- the Protobuf insert path: ``rows.OBSERVATION_PROTO_STRUCTURE`` and ``rows.observation_select``;
- ``observation_reader``: the ``SELECT`` list and the stored row -> record conversion.

Adding an observation column therefore touches the proto (a record field), one migration
(``ALTER TABLE ... ADD COLUMN``) and this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["OBSERVATION_COLUMNS", "OBSERVATION_SCHEMA", "Column", "Kind"]


class Kind(Enum):
    """How a column's value comes from its record field (times are Unix µs, money USD text)."""

    VALUE = "value"
    """The field as it is (``str``, ``bool``, ``int``)."""
    DEFAULTED = "defaulted"
    """The field, or ``Column.default`` when it is empty."""
    OPTIONAL = "optional"
    """A proto3 ``optional`` field: its value when set (also when empty), else NULL."""
    TIME = "time"
    """Unix µs (``int64``) -> ``DateTime64(6)``, range-checked (``rows.check_time``)."""
    OPTIONAL_TIME = "optional_time"
    """An ``optional int64`` Unix µs -> ``Nullable(DateTime64(6))``, range-checked when set."""
    MAP = "map"
    """A proto ``map`` -> ``Map(K, V)`` (a ``dict``)."""
    MONEY_MAP = "money_map"
    """A ``map<string, string>`` of USD decimal text -> ``Map(K, Decimal(18, 12))``, rounded and
    clamped by ``rows.decimal_text``."""
    OPTIONAL_MONEY = "optional_money"
    """An ``optional string`` of USD decimal text -> ``Nullable(Decimal(18, 12))``."""
    LIST = "list"
    """A ``repeated`` field -> ``Array(T)`` (a ``list``)."""
    CONTENT_HASH = "content_hash"
    """Bookkeeping: ``rows.content_hash`` of the record (``UInt64``)."""
    CREATED_AT = "created_at"
    """Bookkeeping: the first write's Unix µs (kept when a changed record is rewritten)."""
    UPDATED_AT = "updated_at"
    """Bookkeeping: this write's Unix µs."""
    EVENT_TS = "event_ts"
    """Bookkeeping: the ReplacingMergeTree version, this write's Unix µs (``EventClock``)."""
    IS_DELETED = "is_deleted"
    """Bookkeeping: 0 (deletion inserts 1, ``storage.query.deletion``)."""


_BOOKKEEPING = frozenset(
    {Kind.CONTENT_HASH, Kind.CREATED_AT, Kind.UPDATED_AT, Kind.EVENT_TS, Kind.IS_DELETED}
)


@dataclass(frozen=True, slots=True)
class Column:
    """One ``observations`` column.

    Attributes:
        name: the ClickHouse column name.
        type: its ClickHouse type, spelled as ``system.columns.type`` reports it.
        field: the ``ObservationRecord`` field it comes from; ``trace.<name>`` for a
            ``TraceFields`` field; ``""`` for bookkeeping kinds (set by the writer).
        kind: how the value is derived (``Kind``).
        default: the value of an empty field (``Kind.DEFAULTED`` only).
        enrichment: computed by the processors' enricher (usage, cost, model), so
            ``ObservationReader`` does not read it back for the ingestion merge (the enricher
            recomputes it from the merged record).
    """

    name: str
    type: str
    field: str
    kind: Kind
    default: str = ""
    enrichment: bool = False

    @property
    def bookkeeping(self) -> bool:
        """Set by the writer, not derived from the record."""
        return self.kind in _BOOKKEEPING

    @property
    def trace_field(self) -> str | None:
        """The ``TraceFields`` field name of a ``trace.<name>`` column, else None."""
        return self.field.removeprefix("trace.") if self.field.startswith("trace.") else None


_STRING = "String"
_OPTIONAL_STRING = "Nullable(String)"
_LOW_STRING = "LowCardinality(String)"
_TIME = "DateTime64(6)"
_OPTIONAL_TIME = "Nullable(DateTime64(6))"
_MONEY_MAP = "Map(LowCardinality(String), Decimal(18, 12))"
_USAGE_MAP = "Map(LowCardinality(String), UInt64)"

OBSERVATION_SCHEMA: tuple[Column, ...] = (
    Column("id", _STRING, "id", Kind.VALUE),
    Column("trace_id", _STRING, "trace_id", Kind.VALUE),
    Column("project_id", _STRING, "project_id", Kind.VALUE),
    Column("type", _LOW_STRING, "type", Kind.DEFAULTED, default="SPAN"),
    Column("parent_observation_id", _OPTIONAL_STRING, "parent_observation_id", Kind.OPTIONAL),
    Column("start_time", _TIME, "start_time_us", Kind.TIME),
    Column("end_time", _OPTIONAL_TIME, "end_time_us", Kind.OPTIONAL_TIME),
    Column("name", _STRING, "name", Kind.VALUE),
    Column("metadata", "Map(LowCardinality(String), String)", "metadata", Kind.MAP),
    Column("level", _LOW_STRING, "level", Kind.DEFAULTED, default="DEFAULT"),
    Column("status_message", _OPTIONAL_STRING, "status_message", Kind.OPTIONAL),
    Column("version", _OPTIONAL_STRING, "version", Kind.OPTIONAL),
    Column("release", _OPTIONAL_STRING, "release", Kind.OPTIONAL),
    Column("input", _OPTIONAL_STRING, "input", Kind.OPTIONAL),
    Column("output", _OPTIONAL_STRING, "output", Kind.OPTIONAL),
    Column("provided_model_name", _OPTIONAL_STRING, "provided_model_name", Kind.OPTIONAL),
    Column(
        "internal_model_id", _OPTIONAL_STRING, "internal_model_id", Kind.OPTIONAL, enrichment=True
    ),
    Column("model_parameters", _OPTIONAL_STRING, "model_parameters", Kind.OPTIONAL),
    Column("provided_usage_details", _USAGE_MAP, "provided_usage_details", Kind.MAP),
    Column("usage_details", _USAGE_MAP, "usage_details", Kind.MAP, enrichment=True),
    Column("provided_cost_details", _MONEY_MAP, "provided_cost_details", Kind.MONEY_MAP),
    Column("cost_details", _MONEY_MAP, "cost_details", Kind.MONEY_MAP, enrichment=True),
    Column(
        "total_cost",
        "Nullable(Decimal(18, 12))",
        "total_cost",
        Kind.OPTIONAL_MONEY,
        enrichment=True,
    ),
    Column("completion_start_time", _OPTIONAL_TIME, "completion_start_time_us", Kind.OPTIONAL_TIME),
    Column("prompt_id", _OPTIONAL_STRING, "prompt_id", Kind.OPTIONAL),
    Column("prompt_name", _OPTIONAL_STRING, "prompt_name", Kind.OPTIONAL),
    Column("prompt_version", "Nullable(UInt32)", "prompt_version", Kind.OPTIONAL),
    Column(
        "usage_pricing_tier_id",
        _OPTIONAL_STRING,
        "usage_pricing_tier_id",
        Kind.OPTIONAL,
        enrichment=True,
    ),
    Column(
        "usage_pricing_tier_name",
        _OPTIONAL_STRING,
        "usage_pricing_tier_name",
        Kind.OPTIONAL,
        enrichment=True,
    ),
    Column("usage_estimated", "Bool", "usage_estimated", Kind.VALUE, enrichment=True),
    Column("environment", _LOW_STRING, "environment", Kind.DEFAULTED, default="default"),
    Column("is_root", "Bool", "trace.is_root", Kind.VALUE),
    Column("is_app_root", "Bool", "is_app_root", Kind.VALUE),  # migrations/0004
    Column("trace_name", _OPTIONAL_STRING, "trace.name", Kind.OPTIONAL),
    Column("user_id", _OPTIONAL_STRING, "trace.user_id", Kind.OPTIONAL),
    Column("session_id", _OPTIONAL_STRING, "trace.session_id", Kind.OPTIONAL),
    Column("tags", "Array(String)", "trace.tags", Kind.LIST),
    Column("scope_name", _STRING, "scope_name", Kind.VALUE),
    Column("scope_version", _STRING, "scope_version", Kind.VALUE),
    Column("service_name", _STRING, "service_name", Kind.VALUE),
    Column("service_version", _STRING, "service_version", Kind.VALUE),
    Column("telemetry_sdk_language", _LOW_STRING, "telemetry_sdk_language", Kind.VALUE),
    Column("telemetry_sdk_name", _STRING, "telemetry_sdk_name", Kind.VALUE),
    Column("telemetry_sdk_version", _STRING, "telemetry_sdk_version", Kind.VALUE),
    Column("ingestion_sdk_name", _LOW_STRING, "ingestion_sdk_name", Kind.VALUE),
    Column("ingestion_sdk_version", _LOW_STRING, "ingestion_sdk_version", Kind.VALUE),
    Column("content_hash", "UInt64", "", Kind.CONTENT_HASH),
    Column("created_at", _TIME, "", Kind.CREATED_AT),
    Column("updated_at", _TIME, "", Kind.UPDATED_AT),
    Column("event_ts", _TIME, "", Kind.EVENT_TS),
    Column("is_deleted", "UInt8", "", Kind.IS_DELETED),
)
"""Every ``observations`` column, in table order (``migrations/0001_create_observations.sql``,
``0004_observations_is_app_root.sql``)."""

OBSERVATION_COLUMNS: tuple[str, ...] = tuple(c.name for c in OBSERVATION_SCHEMA)
"""The column names of ``OBSERVATION_SCHEMA``, in its order (the order of every insert)."""
