"""Observation event bodies → ``ObservationRecord`` (docs/reference/langfuse.md §3.2 bodies, §3.4).

Body fields (camelCase, all optional but ``id``): ``id, traceId, environment, name, startTime,
endTime, metadata, input, output, level, statusMessage, parentObservationId, version``; for
generation-like types also ``completionStartTime, model, modelParameters, usage, usageDetails,
costDetails, promptName, promptVersion``.

Every record is ``partial`` (``processors.merge`` folds it onto the stored row), so a field the
event does not carry stays unset. Ids are kept as given (Langfuse ids are arbitrary strings).
Times are ISO-8601 → Unix µs; ``start_time_us`` defaults to the envelope timestamp (kept only
when no earlier event or stored row set it). Usage (``provided_usage_details``):

- legacy ``usage``: ``{input, output, total}`` or OpenAI ``{promptTokens, completionTokens,
  totalTokens}``; its ``inputCost``/``outputCost``/``totalCost`` become provided costs;
- ``usageDetails``: through the span mapping's usage schema pass
  (``ingest.mapping.usage.usage_from_object``: OpenAI Chat/Responses usage objects are split
  into Langfuse keys, other objects keep their non-negative integer values); its keys win.

Deliberate: no ``total`` is added here (Langfuse adds input+output per event); the enricher adds
``total`` = Σ to the merged usage, so an update that only adds ``output`` gets a correct total.
Costs: ``costDetails`` values that are non-negative numbers, as decimal strings; the enricher
computes cost from usage when none is provided.
"""

from __future__ import annotations

from typing import Any

from ingest.ingestion.values import (
    Invalid,
    metadata_map,
    opt_environment,
    opt_object,
    opt_payload,
    opt_str,
    opt_time_us,
)
from ingest.mapping.context import IngestContext
from ingest.mapping.usage import usage_from_object
from ingest.mapping.values import as_decimal_string, as_non_negative_int, json_encode
from storage.records import LEVELS, OBSERVATION_TYPES, ObservationRecord

__all__ = ["OBSERVATION_EVENT_TYPES", "observation_record", "provided_usage_and_cost"]

OBSERVATION_EVENT_TYPES: dict[str, str | None] = {
    "span-create": "SPAN",
    "span-update": "SPAN",
    "generation-create": "GENERATION",
    "generation-update": "GENERATION",
    "event-create": "EVENT",
    "agent-create": "AGENT",
    "tool-create": "TOOL",
    "chain-create": "CHAIN",
    "retriever-create": "RETRIEVER",
    "evaluator-create": "EVALUATOR",
    "embedding-create": "EMBEDDING",
    "guardrail-create": "GUARDRAIL",
    "observation-create": None,
    "observation-update": None,
}
"""Observation event types → observation type (None: ``body.type`` says)."""

_LEGACY_USAGE_KEYS = (
    ("input", "input"),
    ("output", "output"),
    ("total", "total"),
    ("promptTokens", "input"),
    ("completionTokens", "output"),
    ("totalTokens", "total"),
)
_LEGACY_COST_KEYS = (("inputCost", "input"), ("outputCost", "output"), ("totalCost", "total"))
_WITHOUT_MODEL = frozenset({"SPAN", "EVENT"})


def _observation_type(event_type: str, body: dict[str, Any]) -> str:
    fixed = OBSERVATION_EVENT_TYPES[event_type]
    if fixed is not None:
        return fixed
    raw = opt_str(body, "type")
    if raw is None or raw.upper() not in OBSERVATION_TYPES:
        raise Invalid(f"type must be one of {', '.join(sorted(OBSERVATION_TYPES))}, got {raw!r}")
    return raw.upper()


def provided_usage_and_cost(body: dict[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
    """``(provided_usage_details, provided_cost_details)`` of a generation-like body.

    Raises:
        Invalid: ``usage``, ``usageDetails`` or ``costDetails`` is not an object.
    """
    usage: dict[str, int] = {}
    cost: dict[str, str] = {}
    legacy = opt_object(body, "usage")
    if legacy is not None:
        for source, target in _LEGACY_USAGE_KEYS:
            count = as_non_negative_int(legacy.get(source))
            if count is not None:
                usage[target] = count
        for source, target in _LEGACY_COST_KEYS:
            amount = as_decimal_string(legacy.get(source))
            if amount is not None:
                cost[target] = amount
    details = opt_object(body, "usageDetails")
    if details is not None:
        usage.update(usage_from_object(details))
    cost_details = opt_object(body, "costDetails")
    if cost_details is not None:
        for key, value in cost_details.items():
            amount = as_decimal_string(value)
            if amount is not None:
                cost[key] = amount
    return usage, cost


def _prompt(body: dict[str, Any]) -> tuple[str | None, int | None]:
    name = opt_str(body, "promptName")
    version = body.get("promptVersion")
    if version is not None and (isinstance(version, bool) or as_non_negative_int(version) is None):
        raise Invalid("promptVersion must be a non-negative integer")
    if (name is None) != (version is None):
        raise Invalid("promptName and promptVersion must be given together")
    return name, None if version is None else as_non_negative_int(version)


def _level(body: dict[str, Any]) -> str | None:
    raw = opt_str(body, "level")
    if raw is None:
        return None
    if raw.upper() not in LEVELS:
        raise Invalid(f"level must be one of DEBUG, DEFAULT, WARNING, ERROR, got {raw!r}")
    return raw.upper()


def observation_record(
    event_type: str, body: dict[str, Any], ctx: IngestContext, *, event_time_us: int
) -> ObservationRecord:
    """The partial ``ObservationRecord`` of one observation event (rules: module docstring).

    Raises:
        Invalid: a field has the wrong type or value (the message names it).
    """
    obs_id = opt_str(body, "id")
    if not obs_id:
        raise Invalid("body.id is required for observation events")
    obs_type = _observation_type(event_type, body)
    start = opt_time_us(body, "startTime")
    record = ObservationRecord(
        project_id=ctx.project_id,
        id=obs_id,
        trace_id=opt_str(body, "traceId") or "",
        type=obs_type,
        name=opt_str(body, "name") or "",
        environment=opt_environment(body) or "",
        start_time_us=event_time_us if start is None else start,
        level=_level(body) or "",
        metadata=metadata_map(body.get("metadata")),
        ingestion_sdk_name=ctx.sdk_name,
        ingestion_sdk_version=ctx.sdk_version,
        partial=True,
    )
    optional: dict[str, Any] = {
        "parent_observation_id": opt_str(body, "parentObservationId"),
        "status_message": opt_str(body, "statusMessage"),
        "version": opt_str(body, "version"),
        "input": opt_payload(body, "input"),
        "output": opt_payload(body, "output"),
        "end_time_us": opt_time_us(body, "endTime"),
    }
    if obs_type not in _WITHOUT_MODEL:
        prompt_name, prompt_version = _prompt(body)
        params = opt_object(body, "modelParameters")
        usage, cost = provided_usage_and_cost(body)
        record.provided_usage_details.update(usage)
        record.provided_cost_details.update(cost)
        optional.update(
            completion_start_time_us=opt_time_us(body, "completionStartTime"),
            provided_model_name=opt_str(body, "model"),
            model_parameters=json_encode(params) if params else None,
            prompt_name=prompt_name,
            prompt_version=prompt_version,
        )
    for name, value in optional.items():
        if value is not None:
            setattr(record, name, value)
    return record
