"""Repository rows -> Langfuse public-API JSON (langfuse-anchor.md §5, camelCase).

- times: ISO-8601 UTC with microseconds and ``Z`` (``2025-11-22T00:06:40.123456Z``);
- money: USD floats; usage: ints;
- ``input``/``output``/metadata values: JSON-decoded when the text parses, else the text;
- latency / timeToFirstToken: seconds (float).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from storage.query.repository import Row, TraceDetail
from storage.query.scores.shapes import score_v1_json

__all__ = [
    "decode_json_text",
    "iso_time",
    "observation_json",
    "reduce_details",
    "trace_detail_json",
    "trace_json",
    "trace_list_item_json",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_time(us: int | None) -> str | None:
    """Unix µs -> ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` (``None`` stays ``None``)."""
    if us is None:
        return None
    moment = _EPOCH + timedelta(microseconds=int(us))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def trace_json(row: Row) -> dict[str, Any]:
    """A Langfuse ``Trace`` object plus ``htmlPath``, ``latency`` (s) and ``externalId``."""
    project_id = row["project_id"]
    return {
        "id": row["id"],
        "projectId": project_id,
        "timestamp": iso_time(row["timestamp_us"]),
        "name": row["name"] or None,
        "input": decode_json_text(row["input"]),
        "output": decode_json_text(row["output"]),
        "sessionId": row["session_id"],
        "release": row["release"],
        "version": row["version"],
        "userId": row["user_id"],
        "metadata": _metadata(row["metadata"]),
        "tags": list(row["tags"]),
        "public": bool(row["public"]),
        "bookmarked": bool(row["bookmarked"]),
        "environment": row["environment"],
        "externalId": None,
        "createdAt": iso_time(row["created_at_us"]),
        "updatedAt": iso_time(row["updated_at_us"]),
        "htmlPath": f"/project/{project_id}/traces/{row['id']}",
        "latency": _seconds(row["timestamp_us"], row["end_time_us"]),
    }


def trace_list_item_json(row: Row) -> dict[str, Any]:
    """An item of ``GET /traces``: Trace + ``totalCost`` + ``observations``/``scores`` ids."""
    body = trace_json(row)
    body["totalCost"] = float(row["total_cost"])
    body["observations"] = list(row["observation_ids"])
    body["scores"] = list(row["score_ids"])
    return body


def trace_detail_json(detail: TraceDetail) -> dict[str, Any]:
    """``GET /traces/{id}``: Trace + ``totalCost`` + ``observations: ObservationsView[]`` +
    ``scores: ScoreV1[]`` (langfuse-anchor.md §5)."""
    body = trace_json(detail.trace)
    body["totalCost"] = float(detail.total_cost)
    body["observations"] = [observation_json(o) for o in detail.observations]
    body["scores"] = [score_v1_json(s) for s in detail.scores]
    return body


def _model_parameters(value: str | None) -> Any:
    if value is None:
        return {}
    return decode_json_text(value)


def observation_json(row: Row) -> dict[str, Any]:
    """A Langfuse v1 ``ObservationsView`` (§5) plus ``usageEstimated``."""
    usage = {k: int(v) for k, v in row["usage_details"].items()}
    costs = {k: float(v) for k, v in row["cost_details"].items()}
    usage_in, usage_out, usage_total = reduce_details(usage)
    cost_in, cost_out, cost_total = reduce_details(costs)
    start = row["start_time_us"]
    total_cost = _money(row["total_cost"])
    return {
        "id": row["id"],
        "projectId": row["project_id"],
        "traceId": row["trace_id"],
        "parentObservationId": row["parent_observation_id"],
        "name": row["name"] or None,
        "type": row["type"],
        "environment": row["environment"],
        "startTime": iso_time(start),
        "endTime": iso_time(row["end_time_us"]),
        "completionStartTime": iso_time(row["completion_start_time_us"]),
        "version": row["version"],
        "release": row["release"],
        "createdAt": iso_time(row["created_at_us"]),
        "updatedAt": iso_time(row["updated_at_us"]),
        "input": decode_json_text(row["input"]),
        "output": decode_json_text(row["output"]),
        "metadata": _metadata(row["metadata"]),
        "level": row["level"],
        "statusMessage": row["status_message"],
        "model": row["provided_model_name"],
        "modelParameters": _model_parameters(row["model_parameters"]),
        "promptId": row["prompt_id"],
        "promptName": row["prompt_name"],
        "promptVersion": row["prompt_version"],
        "usageDetails": usage,
        "costDetails": costs,
        "usage": {
            "unit": "TOKENS",
            "input": usage_in,
            "output": usage_out,
            "total": usage_total,
        },
        "unit": "TOKENS",
        "promptTokens": usage_in,
        "completionTokens": usage_out,
        "totalTokens": usage_total,
        "usagePricingTierId": row["usage_pricing_tier_id"],
        "usagePricingTierName": row["usage_pricing_tier_name"],
        "modelId": row["internal_model_id"],
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "calculatedInputCost": cost_in if costs else None,
        "calculatedOutputCost": cost_out if costs else None,
        "calculatedTotalCost": cost_total if costs else None,
        "totalCost": total_cost if total_cost is not None else (cost_total if costs else None),
        "latency": _seconds(start, row["end_time_us"]),
        "timeToFirstToken": _seconds(start, row["completion_start_time_us"]),
        "usageEstimated": bool(row["usage_estimated"]),
    }
