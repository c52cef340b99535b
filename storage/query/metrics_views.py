"""The views of the metrics query API (docs/reference/langfuse.md §5 "Metrics query object").

A view is data: a row source (one row per trace / observation / score, read with ``FINAL``),
the conditions scoping it to the caller's project, its time column, and whitelists of
dimensions (group-by fields, also the filterable columns) and measures (per-row values the
query aggregates). Dimensions and measures that need another table name a *relation*: a
``LEFT JOIN`` added only when used. SQL here is trusted text; ``{db}`` is replaced by the
database name and ``{project_id:String}``/``{from_us:Int64}`` are bound by the query builder.

Units: latency, streamingLatency, timeToFirstToken in milliseconds (float, µs precision);
costs in USD; tokens as counts; tokens per second per observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from storage.query.filters import ARRAY, NUMBER, STRING
from storage.query.sql import details_input, details_output, details_total

__all__ = ["VIEWS_V1", "VIEWS_V2", "Dimension", "Measure", "View"]


@dataclass(frozen=True, slots=True)
class Dimension:
    """A group-by field: SQL over the view's aliases, its filter kind, the relation it needs,
    and whether ``/v2/metrics`` rejects it as a dimension (high cardinality)."""

    sql: str
    kind: str = STRING
    nullable: bool = False
    relation: str | None = None
    high_cardinality: bool = False


@dataclass(frozen=True, slots=True)
class Measure:
    """A per-row value; ``integer`` results of count/sum/min/max are returned as ints."""

    sql: str
    integer: bool = False
    relation: str | None = None


@dataclass(frozen=True, slots=True)
class View:
    """One metrics view (see the module docstring)."""

    name: str
    source: str
    conditions: tuple[str, ...]
    time: str
    time_names: tuple[str, ...]
    dimensions: Mapping[str, Dimension]
    measures: Mapping[str, Measure]
    relations: Mapping[str, str]
    metadata: str | None = None


def _ms(start: str, end: str) -> str:
    return f"(toUnixTimestamp64Micro({end}) - toUnixTimestamp64Micro({start})) / 1000"


_TRACE_JOIN = (
    "LEFT JOIN (SELECT id, name, user_id, session_id, tags, release, version"
    " FROM {db}.traces FINAL WHERE project_id = {project_id:String} AND is_deleted = 0)"
    " AS t ON t.id = {key}"
)

_TRACE_RELATED = {
    "traceName": Dimension("t.name", relation="trace"),
    "userId": Dimension("t.user_id", nullable=True, relation="trace", high_cardinality=True),
    "sessionId": Dimension("t.session_id", nullable=True, relation="trace", high_cardinality=True),
    "tags": Dimension("t.tags", ARRAY, relation="trace"),
    "traceRelease": Dimension("t.release", nullable=True, relation="trace"),
    "traceVersion": Dimension("t.version", nullable=True, relation="trace"),
}

TRACES = View(
    name="traces",
    source="{db}.traces AS t FINAL",
    conditions=("t.project_id = {project_id:String}", "t.is_deleted = 0"),
    time="t.timestamp",
    time_names=("timestamp", "Timestamp"),
    dimensions={
        "id": Dimension("t.id", high_cardinality=True),
        "name": Dimension("t.name"),
        "tags": Dimension("t.tags", ARRAY),
        "userId": Dimension("t.user_id", nullable=True, high_cardinality=True),
        "sessionId": Dimension("t.session_id", nullable=True, high_cardinality=True),
        "release": Dimension("t.release", nullable=True),
        "version": Dimension("t.version", nullable=True),
        "environment": Dimension("t.environment"),
        "timestampMonth": Dimension("formatDateTime(t.timestamp, '%Y-%m', 'UTC')"),
    },
    measures={
        "count": Measure("1", integer=True),
        "observationsCount": Measure(
            "ifNull(oa.observations, 0)", integer=True, relation="observations"
        ),
        "latency": Measure(_ms("t.timestamp", "ifNull(t.end_time, t.timestamp)")),
        "totalCost": Measure("ifNull(oa.total_cost, 0)", relation="observations"),
        "totalTokens": Measure("ifNull(oa.total_tokens, 0)", integer=True, relation="observations"),
    },
    relations={
        # a trace's observations all start at or after the trace timestamp (its earliest
        # start), so ``start_time >= from`` prunes partitions without losing any
        "observations": "LEFT JOIN (SELECT trace_id, count() AS observations,"
        " sum(toFloat64(ifNull(total_cost, 0))) AS total_cost,"
        f" sum({details_total('usage_details')}) AS total_tokens"
        " FROM {db}.observations FINAL WHERE project_id = {project_id:String}"
        " AND is_deleted = 0 AND start_time >= fromUnixTimestamp64Micro({from_us:Int64})"
        " GROUP BY trace_id) AS oa ON oa.trace_id = t.id",
    },
    metadata="t.metadata",
)

_OUTPUT_TOKENS = details_output("o.usage_details")

OBSERVATIONS = View(
    name="observations",
    source="{db}.observations AS o FINAL",
    conditions=("o.project_id = {project_id:String}", "o.is_deleted = 0"),
    time="o.start_time",
    time_names=("startTime", "Start Time"),
    dimensions={
        "id": Dimension("o.id", high_cardinality=True),
        "traceId": Dimension("o.trace_id", high_cardinality=True),
        "environment": Dimension("o.environment"),
        "parentObservationId": Dimension(
            "o.parent_observation_id", nullable=True, high_cardinality=True
        ),
        "type": Dimension("o.type"),
        "name": Dimension("o.name"),
        "level": Dimension("o.level"),
        "version": Dimension("o.version", nullable=True),
        "providedModelName": Dimension("o.provided_model_name", nullable=True),
        "promptName": Dimension("o.prompt_name", nullable=True),
        "promptVersion": Dimension("o.prompt_version", NUMBER, nullable=True),
        "startTimeMonth": Dimension("formatDateTime(o.start_time, '%Y-%m', 'UTC')"),
        **_TRACE_RELATED,
    },
    measures={
        "count": Measure("1", integer=True),
        "latency": Measure(_ms("o.start_time", "o.end_time")),
        "streamingLatency": Measure(_ms("o.completion_start_time", "o.end_time")),
        "timeToFirstToken": Measure(_ms("o.start_time", "o.completion_start_time")),
        "inputTokens": Measure(details_input("o.usage_details"), integer=True),
        "outputTokens": Measure(_OUTPUT_TOKENS, integer=True),
        "totalTokens": Measure(details_total("o.usage_details"), integer=True),
        "outputTokensPerSecond": Measure(
            f"{_OUTPUT_TOKENS} / nullIf({_ms('o.completion_start_time', 'o.end_time')} / 1000, 0)"
        ),
        "tokensPerSecond": Measure(
            f"{details_total('o.usage_details')}"
            f" / nullIf({_ms('o.start_time', 'o.end_time')} / 1000, 0)"
        ),
        "inputCost": Measure(details_input("o.cost_details")),
        "outputCost": Measure(details_output("o.cost_details")),
        "totalCost": Measure("toFloat64(o.total_cost)"),
        "countScores": Measure("ifNull(sc.scores, 0)", integer=True, relation="scores"),
    },
    relations={
        "trace": _TRACE_JOIN.replace("{key}", "o.trace_id"),
        "scores": "LEFT JOIN (SELECT observation_id, count() AS scores FROM {db}.scores FINAL"
        " WHERE project_id = {project_id:String} AND is_deleted = 0"
        " AND observation_id IS NOT NULL GROUP BY observation_id) AS sc"
        " ON sc.observation_id = o.id",
    },
    metadata="o.metadata",
)


def _scores(name: str, data_types: tuple[str, ...], numeric: bool) -> View:
    types = ", ".join(f"'{t}'" for t in data_types)
    dimensions = {
        "id": Dimension("s.id", high_cardinality=True),
        "environment": Dimension("s.environment"),
        "name": Dimension("s.name"),
        "source": Dimension("s.source"),
        "dataType": Dimension("s.data_type"),
        "traceId": Dimension("s.trace_id", nullable=True, high_cardinality=True),
        "observationId": Dimension("s.observation_id", nullable=True, high_cardinality=True),
        "sessionId": Dimension("s.session_id", nullable=True, high_cardinality=True),
        "configId": Dimension("s.config_id", nullable=True),
        "timestampMonth": Dimension("formatDateTime(s.timestamp, '%Y-%m', 'UTC')"),
        "timestampDay": Dimension("formatDateTime(s.timestamp, '%Y-%m-%d', 'UTC')"),
        **{k: v for k, v in _TRACE_RELATED.items() if k != "sessionId"},
        "observationName": Dimension("ob.name", nullable=True, relation="observation"),
        "observationModelName": Dimension(
            "ob.provided_model_name", nullable=True, relation="observation"
        ),
        "observationPromptName": Dimension("ob.prompt_name", nullable=True, relation="observation"),
        "observationPromptVersion": Dimension(
            "ob.prompt_version", NUMBER, nullable=True, relation="observation"
        ),
    }
    measures = {"count": Measure("1", integer=True)}
    if numeric:
        dimensions["value"] = Dimension("s.value", NUMBER)
        measures["value"] = Measure("s.value")
    if data_types != ("NUMERIC",):
        dimensions["stringValue"] = Dimension("s.string_value", nullable=True)
    return View(
        name=name,
        source="{db}.scores AS s FINAL",
        conditions=(
            "s.project_id = {project_id:String}",
            "s.is_deleted = 0",
            f"s.data_type IN ({types})",
        ),
        time="s.timestamp",
        time_names=("timestamp", "Timestamp"),
        dimensions=dimensions,
        measures=measures,
        relations={
            "trace": _TRACE_JOIN.replace("{key}", "s.trace_id"),
            "observation": "LEFT JOIN (SELECT id, name, provided_model_name, prompt_name,"
            " prompt_version FROM {db}.observations FINAL"
            " WHERE project_id = {project_id:String} AND is_deleted = 0) AS ob"
            " ON ob.id = s.observation_id",
        },
        metadata="s.metadata",
    )


SCORES_NUMERIC = _scores("scores-numeric", ("NUMERIC", "BOOLEAN"), numeric=True)
SCORES_BOOLEAN = _scores("scores-boolean", ("BOOLEAN",), numeric=True)
SCORES_CATEGORICAL = _scores("scores-categorical", ("CATEGORICAL",), numeric=False)

VIEWS_V1: Mapping[str, View] = {
    v.name: v for v in (TRACES, OBSERVATIONS, SCORES_NUMERIC, SCORES_BOOLEAN, SCORES_CATEGORICAL)
}
"""Views of ``GET /api/public/metrics``."""

VIEWS_V2: Mapping[str, View] = {
    v.name: v for v in (OBSERVATIONS, SCORES_NUMERIC, SCORES_BOOLEAN, SCORES_CATEGORICAL)
}
"""Views of ``GET /api/public/v2/metrics`` (no ``traces`` view in Langfuse v4)."""
