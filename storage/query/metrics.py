"""``GET /api/public/metrics`` and ``/v2/metrics``
(docs/reference/langfuse.md §5 "Metrics query object").

``?query=`` holds a JSON object::

    {"view": "observations",                       # metrics_views.VIEWS_V1 / VIEWS_V2
     "dimensions": [{"field": "providedModelName"}],
     "metrics": [{"measure": "totalCost", "aggregation": "sum"}],
     "filters": [{"column": "type", "operator": "any of", "value": ["GENERATION"],
                  "type": "stringOptions"}],       # filter JSON over the view's dimensions
     "timeDimension": {"granularity": "day"},      # auto|minute|hour|day|week|month, or null
     "fromTimestamp": "2025-11-01T00:00:00Z", "toTimestamp": "2025-12-01T00:00:00Z",
     "orderBy": [{"field": "sum_totalCost", "direction": "desc"}],
     "config": {"row_limit": 100, "bins": 10}}

and the answer is ``{"data": [{"providedModelName": "gpt-4o", "time_dimension":
"2025-11-22T00:00:00.000000Z", "sum_totalCost": 0.0065}]}``: one key per dimension, the time
bucket start as ``time_dimension`` (ISO-8601 UTC) when a time dimension is asked for, and
``<aggregation>_<measure>`` per metric. Aggregations: sum avg count max min p50 p75 p90 p95 p99
(numbers; ``count`` and integer measures' sum/min/max as ints) and histogram (``[[lower, upper,
height], ...]`` with ``config.bins`` buckets). Rows are those whose time column lies in
``[fromTimestamp, toTimestamp)``. ``/v2/metrics`` rejects high-cardinality dimensions (id,
traceId, userId, sessionId, parentObservationId, observationId).

The SQL is assembled only from the whitelisted fragments of ``metrics_views`` and the tables
below; every value (project, times, filter values, row limit) is a bound parameter, and every
output column has a generated alias (``d0``, ``a0``...), never a client string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from storage.query.filters import (
    DATETIME,
    MAP,
    Column,
    Condition,
    Entity,
    compile_conditions,
    parse_conditions,
)
from storage.query.metrics_views import VIEWS_V1, VIEWS_V2, View
from storage.query.repository import Repository, Row
from storage.query.shapes import iso_time
from storage.query.values import BadRequest, parse_timestamp

__all__ = [
    "AGGREGATIONS",
    "GRANULARITIES",
    "MetricsQuery",
    "build_sql",
    "metrics_json",
    "parse_metrics_query",
    "run_metrics_query",
]

_PERCENTILES = {f"p{p}": f"quantile(0.{p})({{m}})" for p in (50, 75, 90, 95, 99)}
AGGREGATIONS: Mapping[str, str] = {
    "sum": "sum({m})",
    "avg": "avg({m})",
    "count": "count({m})",
    "max": "max({m})",
    "min": "min({m})",
    **_PERCENTILES,
    "histogram": "histogram",
}
"""Aggregation -> SQL over the per-row measure ``{m}`` (histogram: see ``_HISTOGRAM``)."""

_HISTOGRAM = {bins: f"histogram({bins})({{m}})" for bins in range(1, 101)}
_INTEGER_AGGREGATIONS = frozenset({"sum", "min", "max"})

GRANULARITIES: Mapping[str, str] = {
    "minute": "toStartOfMinute({t}, 'UTC')",
    "hour": "toStartOfHour({t}, 'UTC')",
    "day": "toStartOfDay({t}, 'UTC')",
    "week": "toDateTime(toMonday({t}, 'UTC'), 'UTC')",
    "month": "toDateTime(toStartOfMonth({t}, 'UTC'), 'UTC')",
}
"""Time bucket (start, UTC) of each granularity; weeks start on Monday."""

_AUTO_STEPS = (  # range up to (µs) -> granularity
    (2 * 3600 * 10**6, "minute"),
    (2 * 86400 * 10**6, "hour"),
    (60 * 86400 * 10**6, "day"),
    (366 * 86400 * 10**6, "week"),
)

MAX_DIMENSIONS = 10
MAX_METRICS = 20
DEFAULT_ROW_LIMIT = 100
TIME_KEY = "time_dimension"


@dataclass(frozen=True, slots=True)
class Metric:
    """One requested metric; ``alias`` is the response key ``<aggregation>_<measure>``."""

    measure: str
    aggregation: str

    @property
    def alias(self) -> str:
        return f"{self.aggregation}_{self.measure}"


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """A validated query object (times in Unix µs)."""

    view: View
    dimensions: tuple[str, ...]
    metrics: tuple[Metric, ...]
    conditions: tuple[Condition, ...]
    granularity: str | None
    from_us: int
    to_us: int
    order_by: tuple[tuple[str, bool], ...]
    """(response key, descending) pairs."""
    row_limit: int
    bins: int


def _filter_entity(view: View) -> Entity:
    columns = {
        name: Column(dim.sql, dim.kind, dim.nullable) for name, dim in view.dimensions.items()
    }
    for name in view.time_names:
        columns[name] = Column(view.time, DATETIME)
    if view.metadata is not None:
        columns["metadata"] = Column(view.metadata, MAP)
    return Entity(view.name, columns)


_ENTITIES = {v.name: _filter_entity(v) for v in (*VIEWS_V1.values(), *VIEWS_V2.values())}


def _field(item: Any, key: str, where: str) -> str:
    if not isinstance(item, dict) or not isinstance(item.get(key), str):
        raise BadRequest(f"{where} must be an object with a string {key!r}")
    value: str = item[key]
    return value


def _choices(values: Any) -> str:
    return ", ".join(sorted(values))


def _int_setting(config: dict[str, Any], key: str, default: int, hi: int) -> int:
    value = config.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise BadRequest(f"query.config.{key} must be an integer between 1 and {hi}")
    return value


def parse_metrics_query(raw: str | None, version: int) -> MetricsQuery:
    """Parse and validate ``?query=`` for ``/metrics`` (``version=1``) or ``/v2/metrics``.

    Raises:
        BadRequest: missing or invalid JSON, unknown view/dimension/measure/aggregation/
            granularity/order field, a high-cardinality dimension on v2, bad filters, missing
            timestamps or ``fromTimestamp >= toTimestamp``.
    """
    if raw is None or not raw.strip():
        raise BadRequest("query is required: a JSON metrics query object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("query must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("query must be a JSON object")
    views = VIEWS_V1 if version == 1 else VIEWS_V2
    view_name = body.get("view")
    if not isinstance(view_name, str) or view_name not in views:
        raise BadRequest(f"query.view must be one of {_choices(views)}; got {view_name!r}")
    view = views[view_name]

    dimensions = _dimensions(body.get("dimensions"), view, version)
    metrics = _metrics(body.get("metrics"), view)
    conditions = parse_conditions(body.get("filters"), _ENTITIES[view.name], "query.filters")

    times = []
    for key in ("fromTimestamp", "toTimestamp"):
        value = body.get(key)
        if not isinstance(value, str) or not value:
            raise BadRequest(f"query.{key} is required (ISO-8601)")
        times.append(parse_timestamp(value, f"query.{key}"))
    from_us, to_us = times
    if from_us >= to_us:
        raise BadRequest("query.fromTimestamp must be before query.toTimestamp")

    granularity = _granularity(body.get("timeDimension"), to_us - from_us)
    keys = {*dimensions, *(m.alias for m in metrics)}
    if granularity is not None:
        keys.add(TIME_KEY)
    order_by = _order_by(body.get("orderBy"), keys)

    config = body.get("config") or {}
    if not isinstance(config, dict):
        raise BadRequest("query.config must be an object")
    return MetricsQuery(
        view=view,
        dimensions=dimensions,
        metrics=metrics,
        conditions=conditions,
        granularity=granularity,
        from_us=from_us,
        to_us=to_us,
        order_by=order_by,
        row_limit=_int_setting(config, "row_limit", DEFAULT_ROW_LIMIT, 1000),
        bins=_int_setting(config, "bins", 10, 100),
    )


def _dimensions(raw: Any, view: View, version: int) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_DIMENSIONS:
        raise BadRequest(f"query.dimensions must be an array of at most {MAX_DIMENSIONS} objects")
    fields: list[str] = []
    for i, item in enumerate(raw):
        field = _field(item, "field", f"query.dimensions[{i}]")
        dimension = view.dimensions.get(field)
        if dimension is None:
            raise BadRequest(
                f"query.dimensions[{i}].field {field!r} is not a dimension of view"
                f" {view.name!r}; use one of {_choices(view.dimensions)}"
            )
        if version == 2 and dimension.high_cardinality:
            raise BadRequest(
                f"query.dimensions[{i}].field {field!r} is a high-cardinality field and cannot"
                " be a dimension in /v2/metrics; filter on it instead"
            )
        if field not in fields:
            fields.append(field)
    return tuple(fields)


def _metrics(raw: Any, view: View) -> tuple[Metric, ...]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_METRICS:
        raise BadRequest(f"query.metrics must be an array of 1 to {MAX_METRICS} objects")
    metrics: list[Metric] = []
    for i, item in enumerate(raw):
        measure = _field(item, "measure", f"query.metrics[{i}]")
        aggregation = _field(item, "aggregation", f"query.metrics[{i}]")
        if measure not in view.measures:
            raise BadRequest(
                f"query.metrics[{i}].measure {measure!r} is not a measure of view"
                f" {view.name!r}; use one of {_choices(view.measures)}"
            )
        if aggregation not in AGGREGATIONS:
            raise BadRequest(
                f"query.metrics[{i}].aggregation must be one of {_choices(AGGREGATIONS)};"
                f" got {aggregation!r}"
            )
        metric = Metric(measure, aggregation)
        if metric not in metrics:
            metrics.append(metric)
    return tuple(metrics)


def _granularity(raw: Any, span_us: int) -> str | None:
    if raw is None:
        return None
    granularity = raw.get("granularity") if isinstance(raw, dict) else None
    if granularity == "auto":
        return next((g for limit, g in _AUTO_STEPS if span_us <= limit), "month")
    if not isinstance(granularity, str) or granularity not in GRANULARITIES:
        raise BadRequest(
            "query.timeDimension must be null or {granularity: auto|minute|hour|day|week|month}"
        )
    return granularity


def _order_by(raw: Any, keys: set[str]) -> tuple[tuple[str, bool], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BadRequest("query.orderBy must be null or an array of {field, direction}")
    order: list[tuple[str, bool]] = []
    for i, item in enumerate(raw):
        field = _field(item, "field", f"query.orderBy[{i}]")
        direction = item.get("direction", "asc")
        if field not in keys:
            raise BadRequest(
                f"query.orderBy[{i}].field {field!r} is not a dimension or metric of this query;"
                f" use one of {_choices(keys)}"
            )
        if direction not in ("asc", "desc"):
            raise BadRequest(f"query.orderBy[{i}].direction must be asc or desc")
        order.append((field, direction == "desc"))
    return tuple(order)


def build_sql(query: MetricsQuery, database: str, project_id: str) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of ``query`` for ``project_id`` (see the module docstring)."""
    view = query.view
    entity = _ENTITIES[view.name]
    measures = list(dict.fromkeys(m.measure for m in query.metrics))
    relations = {view.dimensions[d].relation for d in query.dimensions}
    relations |= {view.measures[m].relation for m in measures}
    relations |= {
        view.dimensions[c.column].relation for c in query.conditions if c.column in view.dimensions
    }
    inner = [f"{view.dimensions[d].sql} AS d{i}" for i, d in enumerate(query.dimensions)]
    inner += [f"{view.measures[m].sql} AS m{j}" for j, m in enumerate(measures)]
    if query.granularity is not None:
        bucket = GRANULARITIES[query.granularity].replace("{t}", view.time)
        inner.append(f"toUnixTimestamp({bucket}) AS td")
    joins = [view.relations[r] for r in sorted(r for r in relations if r is not None)]
    where = [
        *view.conditions,
        f"{view.time} >= fromUnixTimestamp64Micro({{from_us:Int64}})",
        f"{view.time} < fromUnixTimestamp64Micro({{to_us:Int64}})",
    ]
    filter_sql, params = compile_conditions(query.conditions, entity, database)
    where += filter_sql

    groups = [f"d{i}" for i in range(len(query.dimensions))]
    if query.granularity is not None:
        groups.append("td")
    outer = list(groups)
    for k, metric in enumerate(query.metrics):
        m = f"m{measures.index(metric.measure)}"
        if metric.aggregation == "histogram":
            outer.append(f"{_HISTOGRAM[query.bins].replace('{m}', m)} AS a{k}")
        else:
            agg = AGGREGATIONS[metric.aggregation].replace("{m}", m)
            outer.append(f"CAST({agg} AS Nullable(Float64)) AS a{k}")

    aliases = {d: f"d{i}" for i, d in enumerate(query.dimensions)}
    aliases.update({m.alias: f"a{k}" for k, m in enumerate(query.metrics)})
    aliases[TIME_KEY] = "td"
    order = [f"{aliases[key]} {'DESC' if desc else 'ASC'}" for key, desc in query.order_by]
    if not order:
        if query.granularity is not None:
            order.append("td ASC")
        if query.metrics[0].aggregation != "histogram":
            order.append("a0 DESC")
    order += [f"{g} ASC" for g in groups if not any(o.startswith(f"{g} ") for o in order)]

    sql = (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)}"
        f" FROM {view.source.replace('{db}', database)}"
        f" {' '.join(j.replace('{db}', database) for j in joins)}"
        f" WHERE {' AND '.join(where)})"
        + (f" GROUP BY {', '.join(groups)}" if groups else "")
        + (f" ORDER BY {', '.join(order)}" if order else "")
        + " LIMIT {row_limit:UInt32} SETTINGS join_use_nulls = 1"
    )
    params.update(
        project_id=project_id,
        from_us=query.from_us,
        to_us=query.to_us,
        row_limit=query.row_limit,
    )
    return sql, params


def run_metrics_query(repo: Repository, project_id: str, query: MetricsQuery) -> list[Row]:
    """Run ``query`` in ``project_id``; rows keyed by the generated aliases (``d0``, ``a0``...)."""
    sql, params = build_sql(query, repo.database, project_id)
    return repo.client.select(sql, params)


def _number(value: Any, integer: bool) -> Any:
    if value is None:
        return None
    number = float(value)
    return int(number) if integer and number.is_integer() else number


def metrics_json(query: MetricsQuery, rows: list[Row]) -> dict[str, Any]:
    """``{"data": [...]}`` with response keys (see the module docstring)."""
    data = []
    for row in rows:
        item: dict[str, Any] = {d: row[f"d{i}"] for i, d in enumerate(query.dimensions)}
        if query.granularity is not None:
            item[TIME_KEY] = iso_time(int(row["td"]) * 1_000_000)
        for k, metric in enumerate(query.metrics):
            value = row[f"a{k}"]
            if metric.aggregation == "histogram":
                item[metric.alias] = [[float(x) for x in bucket] for bucket in value]
            else:
                integer = metric.aggregation == "count" or (
                    metric.aggregation in _INTEGER_AGGREGATIONS
                    and query.view.measures[metric.measure].integer
                )
                item[metric.alias] = _number(value, integer)
        data.append(item)
    return {"data": data}
