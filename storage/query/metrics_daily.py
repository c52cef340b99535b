"""``GET /api/public/metrics/daily`` (docs/reference/langfuse.md §5): per-day usage and cost.

Response ``{"data": [DailyMetrics...], "meta": {page, limit, totalItems, totalPages}}`` where a
page is a page of days (newest first) and ``totalItems`` counts days::

    {"date": "2025-11-22",            # UTC day of the trace timestamp
     "countTraces": 3, "countObservations": 7, "totalCost": 0.0065,   # USD
     "usage": [{"model": "gpt-4o", "inputUsage": 1300, "outputUsage": 340, "totalUsage": 1640,
                "countObservations": 1, "countTraces": 1, "totalCost": 0.0065}]}

A trace and all its observations count on the trace's day. ``usage`` has one entry per
``provided_model_name`` (observations without a model count in the day's totals only), ordered
by model name. Usage follows §4.5: input = Σ keys containing "input", output = Σ keys
containing "output", total = the ``total`` key or input + output. Query filters select traces:
``traceName``, ``userId``, ``tags`` (repeatable, all must match), ``environment``
(repeatable), ``fromTimestamp`` (>=), ``toTimestamp`` (<).
"""

from __future__ import annotations

from typing import Any

from storage.query.params import PageRequest, list_param, str_param, time_param
from storage.query.repository import Page, Repository, Row
from storage.query.schemas import DailyMetricsDetails, UsageByModel, as_json
from storage.query.sql import details_input, details_output, details_total
from storage.query.traces import TraceFilter, trace_where
from storage.query.values import QueryParams

__all__ = ["daily_metrics", "daily_metrics_json", "parse_daily_filter"]


def parse_daily_filter(params: QueryParams) -> TraceFilter:
    """The trace filter of ``/metrics/daily`` (``traceName`` is the trace ``name``).

    Raises:
        BadRequest: a timestamp is not ISO-8601.
    """
    return TraceFilter(
        name=str_param(params, "traceName"),
        user_id=str_param(params, "userId"),
        tags=list_param(params, "tags"),
        environments=list_param(params, "environment"),
        from_us=time_param(params, "fromTimestamp"),
        to_us=time_param(params, "toTimestamp"),
    )


def daily_metrics(repo: Repository, project_id: str, flt: TraceFilter, page: PageRequest) -> Page:
    """One page of days. Rows: ``date`` (``YYYY-MM-DD``), ``count_traces`` and ``models``:
    per-model aggregate rows (``model`` ``""`` = observations without a model)."""
    db, client = repo.database, repo.client
    where = trace_where(repo, project_id, flt)
    traces = (
        f"SELECT id, toDate(timestamp, 'UTC') AS day FROM {db}.traces FINAL WHERE {where.sql()}"
    )
    days = client.select(
        f"SELECT toString(day) AS date, count() AS count_traces FROM ({traces})"
        " GROUP BY day ORDER BY day DESC LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        {**where.params, "limit": page.limit, "offset": page.offset},
    )
    total = client.select(f"SELECT uniqExact(day) AS n FROM ({traces})", where.params)
    if days:
        dates = [d["date"] for d in days]
        models = client.select(
            "SELECT toString(t.day) AS date, ifNull(o.provided_model_name, '') AS model,"
            f" sum({details_input('o.usage_details')}) AS input_usage,"
            f" sum({details_output('o.usage_details')}) AS output_usage,"
            f" sum({details_total('o.usage_details')}) AS total_usage,"
            " count() AS count_observations, uniqExact(o.trace_id) AS count_traces,"
            " toString(sum(ifNull(o.total_cost, 0))) AS total_cost"
            f" FROM {db}.observations AS o FINAL"
            f" INNER JOIN ({traces} AND toString(toDate(timestamp, 'UTC')) IN"
            " {dates:Array(String)}) AS t ON o.trace_id = t.id"
            " WHERE o.project_id = {project_id:String} AND o.is_deleted = 0"
            " GROUP BY date, model ORDER BY date, model",
            {**where.params, "dates": dates},
        )
        by_day: dict[str, list[Row]] = {}
        for row in models:
            by_day.setdefault(row["date"], []).append(row)
        for day in days:
            day["models"] = by_day.get(day["date"], [])
    return Page(days, int(total[0]["n"]) if total else 0)


def daily_metrics_json(row: Row) -> dict[str, Any]:
    """One ``DailyMetrics`` item (``schemas.DailyMetricsDetails``; see the module docstring for
    the shape and units)."""
    models = row["models"]
    day = DailyMetricsDetails(
        date=row["date"],
        count_traces=int(row["count_traces"]),
        count_observations=sum(int(m["count_observations"]) for m in models),
        total_cost=sum(float(m["total_cost"]) for m in models),
        usage=[
            UsageByModel(
                model=m["model"],
                input_usage=int(m["input_usage"]),
                output_usage=int(m["output_usage"]),
                total_usage=int(m["total_usage"]),
                count_observations=int(m["count_observations"]),
                count_traces=int(m["count_traces"]),
                total_cost=float(m["total_cost"]),
            )
            for m in models
            if m["model"]
        ],
    )
    return as_json(day)
