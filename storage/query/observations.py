"""Observations (v1): the read model of ``GET /api/public/observations`` and
``/observations/{observationId}`` (docs/reference/langfuse.md §5; langfuse/langfuse
``fern/apis/server/definition/observations.yml``); v2 is ``storage.query.observations_v2``.

- ``parse_observation_filter``: query string -> ``ObservationFilter`` (raises ``BadRequest``);
- ``list_observations`` / ``get_observation``: project-scoped, parameterised SQL over
  ``observations FINAL``, blocking: run them in a worker thread;
- ``observation_model`` / ``observation_json``: a row -> ``schemas.ObservationsView``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.query.filter_columns import OBSERVATION_FILTERS
from storage.query.filters import Condition, compile_conditions, parse_filter_param
from storage.query.params import PageRequest, list_param, str_param, time_param
from storage.query.repository import Page, Repository, Row
from storage.query.schemas import ObservationsView, ObservationUsage, as_json
from storage.query.shapes import (
    decode_json_text,
    metadata_json,
    money,
    reduce_details,
    seconds_between,
)
from storage.query.sql import Where
from storage.query.values import QueryParams, iso_time

__all__ = [
    "OBSERVATION_COLUMNS",
    "ObservationFilter",
    "get_observation",
    "list_observations",
    "observation_json",
    "observation_model",
    "parse_observation_filter",
]

OBSERVATION_COLUMNS = """
    id, trace_id, project_id, type, parent_observation_id, name, environment, level,
    status_message, version, release,
    toUnixTimestamp64Micro(start_time) AS start_time_us,
    toUnixTimestamp64Micro(end_time) AS end_time_us,
    toUnixTimestamp64Micro(completion_start_time) AS completion_start_time_us,
    metadata, input, output, provided_model_name, internal_model_id, model_parameters,
    usage_details,
    mapApply((k, v) -> (k, toString(v)), cost_details) AS cost_details,
    toString(total_cost) AS total_cost,
    prompt_id, prompt_name, prompt_version, usage_pricing_tier_id, usage_pricing_tier_name,
    usage_estimated,
    toUnixTimestamp64Micro(created_at) AS created_at_us,
    toUnixTimestamp64Micro(updated_at) AS updated_at_us
"""
"""``SELECT`` list of an observation row (shaped by ``observation_json``)."""


@dataclass(frozen=True, slots=True)
class ObservationFilter:
    """Filters of ``GET /api/public/observations``; ``None`` / empty means "any"."""

    name: str | None = None
    user_id: str | None = None
    type: str | None = None
    trace_id: str | None = None
    parent_observation_id: str | None = None
    level: str | None = None
    environments: tuple[str, ...] = ()
    from_start_us: int | None = None
    to_start_us: int | None = None
    version: str | None = None
    conditions: tuple[Condition, ...] = ()
    """The ``filter`` JSON conditions (``storage.query.filter_columns.OBSERVATION_FILTERS``)."""


def parse_observation_filter(params: QueryParams) -> ObservationFilter:
    """Filters of ``GET /observations``: name, userId, type, traceId, parentObservationId,
    level, environment (repeatable), fromStartTime (>=), toStartTime (<), version,
    filter (JSON, ``OBSERVATION_FILTERS`` columns)."""
    return ObservationFilter(
        name=str_param(params, "name"),
        user_id=str_param(params, "userId"),
        type=str_param(params, "type"),
        trace_id=str_param(params, "traceId"),
        parent_observation_id=str_param(params, "parentObservationId"),
        level=str_param(params, "level"),
        environments=list_param(params, "environment"),
        from_start_us=time_param(params, "fromStartTime"),
        to_start_us=time_param(params, "toStartTime"),
        version=str_param(params, "version"),
        conditions=parse_filter_param(params.get("filter"), OBSERVATION_FILTERS),
    )


def list_observations(
    repo: Repository, project_id: str, flt: ObservationFilter, page: PageRequest
) -> Page:
    """Observations matching ``flt``, newest start first, paginated (``OBSERVATION_COLUMNS``).

    ``userId`` matches the observation's trace user (the merged trace row), like Langfuse.
    """
    where = Where(project_id)
    where.equal(
        name=flt.name,
        type=flt.type,
        trace_id=flt.trace_id,
        parent_observation_id=flt.parent_observation_id,
        level=flt.level,
        version=flt.version,
    )
    where.environments(flt.environments)
    where.time_range("start_time", flt.from_start_us, flt.to_start_us)
    if flt.user_id is not None:
        where.add(
            f"trace_id IN (SELECT id FROM {repo.database}.traces FINAL"
            " WHERE project_id = {project_id:String} AND user_id = {user_id:String}"
            " AND is_deleted = 0)",
            user_id=flt.user_id,
        )
    if flt.conditions:
        where.extend(*compile_conditions(flt.conditions, OBSERVATION_FILTERS, repo.database))
    rows = repo.client.select(
        f"SELECT {OBSERVATION_COLUMNS} FROM {repo.database}.observations FINAL"
        f" WHERE {where.sql()} ORDER BY start_time DESC, id DESC"
        " LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        {**where.params, "limit": page.limit, "offset": page.offset},
    )
    return Page(rows, repo.count("observations", where))


def get_observation(repo: Repository, project_id: str, observation_id: str) -> Row | None:
    """The observation ``observation_id`` of ``project_id`` (``OBSERVATION_COLUMNS``)."""
    rows = repo.client.select(
        f"SELECT {OBSERVATION_COLUMNS} FROM {repo.database}.observations FINAL"
        " WHERE project_id = {project_id:String} AND id = {id:String} AND is_deleted = 0"
        " ORDER BY start_time DESC LIMIT 1",
        {"project_id": project_id, "id": observation_id},
    )
    return rows[0] if rows else None


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
    total_cost = money(row["total_cost"])
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
        metadata=metadata_json(row["metadata"]),
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
        latency=seconds_between(start, row["end_time_us"]),
        time_to_first_token=seconds_between(start, row["completion_start_time_us"]),
        usage_estimated=bool(row["usage_estimated"]),
    )


def observation_json(row: Row) -> dict[str, Any]:
    """A Langfuse v1 ``ObservationsView`` plus ``usageEstimated`` (``schemas.ObservationsView``)."""
    return as_json(observation_model(row))
