"""Repository rows -> Langfuse public-API JSON (docs/reference/langfuse.md §5, camelCase).

Rows become the typed models of ``storage.query.schemas`` (which also generate the OpenAPI
component schemas), then JSON-ready dicts (``schemas.as_json``). Values:

- times: ISO-8601 UTC with microseconds and ``Z`` (``2025-11-22T00:06:40.123456Z``);
- money: USD floats; usage: ints;
- ``input``/``output``/metadata values: JSON-decoded when the text parses, else the text;
- latency / timeToFirstToken: seconds (float).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from storage.query.repository import Row, TraceDetail
from storage.query.schemas import (
    ObservationsView,
    ObservationUsage,
    Trace,
    TraceListItem,
    TraceWithFullDetails,
    as_json,
)
from storage.query.scores.shapes import score_v1_model
from storage.query.values import iso_time

__all__ = [
    "decode_json_text",
    "iso_time",
    "observation_json",
    "observation_model",
    "reduce_details",
    "trace_detail_json",
    "trace_json",
    "trace_list_item_json",
    "trace_model",
]


def decode_json_text(value: str | None) -> Any:
    """Parse ``value`` as JSON when it is JSON, else return the text unchanged."""
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _metadata(values: Mapping[str, str]) -> dict[str, Any]:
    return {k: decode_json_text(v) for k, v in values.items()}


def _seconds(start_us: int | None, end_us: int | None) -> float | None:
    if start_us is None or end_us is None:
        return None
    return (int(end_us) - int(start_us)) / 1_000_000


def _money(value: str | None) -> float | None:
    return float(value) if value is not None else None


def reduce_details(details: Mapping[str, float]) -> tuple[float, float, float]:
    """Σ of keys containing "input", Σ of keys containing "output", and the ``total`` key
    (input + output when absent) — Langfuse's ``reduceUsageOrCostDetails`` (§4.5)."""
    total_in = sum(v for k, v in details.items() if "input" in k.lower())
    total_out = sum(v for k, v in details.items() if "output" in k.lower())
    total = details.get("total", total_in + total_out)
    return total_in, total_out, total


def _trace_fields(row: Row) -> dict[str, Any]:
    """The ``Trace`` fields of a trace row (keyword arguments of ``Trace`` and subclasses)."""
    project_id = row["project_id"]
    return {
        "id": row["id"],
        "project_id": project_id,
        "timestamp": iso_time(row["timestamp_us"]),
        "name": row["name"] or None,
        "input": decode_json_text(row["input"]),
        "output": decode_json_text(row["output"]),
        "session_id": row["session_id"],
        "release": row["release"],
        "version": row["version"],
        "user_id": row["user_id"],
        "metadata": _metadata(row["metadata"]),
        "tags": list(row["tags"]),
        "public": bool(row["public"]),
        "bookmarked": bool(row["bookmarked"]),
        "environment": row["environment"],
        "external_id": None,
        "created_at": iso_time(row["created_at_us"]),
        "updated_at": iso_time(row["updated_at_us"]),
        "html_path": f"/project/{project_id}/traces/{row['id']}",
        "latency": _seconds(row["timestamp_us"], row["end_time_us"]),
    }


def trace_model(row: Row) -> Trace:
    """A trace row as a ``schemas.Trace``."""
    return Trace(**_trace_fields(row))


def trace_json(row: Row) -> dict[str, Any]:
    """A Langfuse ``Trace`` object plus ``htmlPath``, ``latency`` (s) and ``externalId``
    (``schemas.Trace``)."""
    return as_json(trace_model(row))


def trace_list_item_json(row: Row) -> dict[str, Any]:
    """An item of ``GET /traces``: Trace + ``totalCost`` + ``observations``/``scores`` ids
    (``schemas.TraceListItem``)."""
    item = TraceListItem(
        **_trace_fields(row),
        total_cost=float(row["total_cost"]),
        observations=list(row["observation_ids"]),
        scores=list(row["score_ids"]),
    )
    return as_json(item)


def trace_detail_json(detail: TraceDetail) -> dict[str, Any]:
    """``GET /traces/{id}``: Trace + ``totalCost`` + ``observations: ObservationsView[]`` +
    ``scores: ScoreV1[]`` (``schemas.TraceWithFullDetails``)."""
    body = TraceWithFullDetails(
        **_trace_fields(detail.trace),
        total_cost=float(detail.total_cost),
        observations=[observation_model(o) for o in detail.observations],
        scores=[score_v1_model(s) for s in detail.scores],
    )
    return as_json(body)


def _model_parameters(value: str | None) -> Any:
    if value is None:
        return {}
    return decode_json_text(value)


def observation_model(row: Row) -> ObservationsView:
    """An observation row as a ``schemas.ObservationsView``."""
    usage = {k: int(v) for k, v in row["usage_details"].items()}
    costs = {k: float(v) for k, v in row["cost_details"].items()}
    usage_in, usage_out, usage_total = reduce_details(usage)
    cost_in, cost_out, cost_total = reduce_details(costs)
    start = row["start_time_us"]
    total_cost = _money(row["total_cost"])
    return ObservationsView(
        id=row["id"],
        project_id=row["project_id"],
        trace_id=row["trace_id"],
        parent_observation_id=row["parent_observation_id"],
        name=row["name"] or None,
        type=row["type"],
        environment=row["environment"],
        start_time=iso_time(start),
        end_time=iso_time(row["end_time_us"]),
        completion_start_time=iso_time(row["completion_start_time_us"]),
        version=row["version"],
        release=row["release"],
        created_at=iso_time(row["created_at_us"]),
        updated_at=iso_time(row["updated_at_us"]),
        input=decode_json_text(row["input"]),
        output=decode_json_text(row["output"]),
        metadata=_metadata(row["metadata"]),
        level=row["level"],
        status_message=row["status_message"],
        model=row["provided_model_name"],
        model_parameters=_model_parameters(row["model_parameters"]),
        prompt_id=row["prompt_id"],
        prompt_name=row["prompt_name"],
        prompt_version=row["prompt_version"],
        usage_details=usage,
        cost_details=costs,
        usage=ObservationUsage(
            unit="TOKENS",
            input=usage_in,
            output=usage_out,
            total=usage_total,
        ),
        unit="TOKENS",
        prompt_tokens=usage_in,
        completion_tokens=usage_out,
        total_tokens=usage_total,
        usage_pricing_tier_id=row["usage_pricing_tier_id"],
        usage_pricing_tier_name=row["usage_pricing_tier_name"],
        model_id=row["internal_model_id"],
        input_price=None,
        output_price=None,
        total_price=None,
        calculated_input_cost=cost_in if costs else None,
        calculated_output_cost=cost_out if costs else None,
        calculated_total_cost=cost_total if costs else None,
        total_cost=total_cost if total_cost is not None else (cost_total if costs else None),
        latency=_seconds(start, row["end_time_us"]),
        time_to_first_token=_seconds(start, row["completion_start_time_us"]),
        usage_estimated=bool(row["usage_estimated"]),
    )


def observation_json(row: Row) -> dict[str, Any]:
    """A Langfuse v1 ``ObservationsView`` plus ``usageEstimated`` (``schemas.ObservationsView``)."""
    return as_json(observation_model(row))
