"""Score bodies -> ``ScoreRecord``: the rules shared by ``POST /api/public/scores``
(``ingest.api.scores``) and ``score-create`` ingestion events (docs/reference/langfuse.md §3.2
ScoreBody, §5 POST /scores, docs/reference/test-services.md §7 for what the Langfuse Python SDK 5
sends).

Score object: ``{id?, traceId?, sessionId?, observationId?, datasetRunId?, name, value,
comment?, metadata?, environment?, queueId?, configId?, dataType?, source?, timestamp?}``.
``id`` defaults to a uuid4, ``timestamp`` (ISO-8601) to the receive time, ``source`` to
``API``. Value by data type (inferred when absent: number → NUMERIC, string → CATEGORICAL,
boolean → BOOLEAN):

| dataType    | value accepted          | stored value | stored stringValue |
|-------------|-------------------------|--------------|--------------------|
| NUMERIC     | finite number           | the number   | –                  |
| BOOLEAN     | 0, 1, true, false       | 1 / 0        | "True" / "False"   |
| CATEGORICAL | string                  | 0            | the string         |
| CORRECTION  | string (no configId)    | 0            | the string         |
| TEXT        | string of 1..500 chars  | 0            | the string         |

At least one of traceId, sessionId, datasetRunId is required; observationId needs traceId.
``source`` is API or ANNOTATION (EVAL is reserved for evaluators and rejected here; the
ingestion endpoint accepts it). The environment is normalised as for spans. Score configs are
not validated (otelfuse has none).
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from ingest.ingestion.values import (
    Invalid,
    metadata_map,
    opt_environment,
    opt_str,
    opt_time_us,
)
from storage.records import SCORE_DATA_TYPES, ScoreRecord

__all__ = ["MAX_TEXT_SCORE", "parse_score"]

MAX_TEXT_SCORE = 500
"""Longest TEXT score value (characters)."""

_API_SOURCES = ("API", "ANNOTATION")
_ALL_SOURCES = ("API", "EVAL", "ANNOTATION")
_STRING_TYPES = frozenset({"CATEGORICAL", "CORRECTION", "TEXT"})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _data_type(body: dict[str, Any], value: Any) -> str:
    raw = opt_str(body, "dataType")
    if raw is not None:
        if raw not in SCORE_DATA_TYPES:
            raise Invalid(f"dataType must be one of {', '.join(sorted(SCORE_DATA_TYPES))}")
        return raw
    if isinstance(value, bool):
        return "BOOLEAN"
    if _is_number(value):
        return "NUMERIC"
    if isinstance(value, str):
        return "CATEGORICAL"
    raise Invalid("value must be a number or a string")


def _set_value(record: ScoreRecord, data_type: str, value: Any, config_id: str | None) -> None:
    if data_type == "NUMERIC":
        if not _is_number(value) or not math.isfinite(value):
            raise Invalid("value of a NUMERIC score must be a finite number")
        record.value = float(value)
    elif data_type == "BOOLEAN":
        if value not in (0, 1) or not (isinstance(value, bool) or _is_number(value)):
            raise Invalid("value of a BOOLEAN score must be 0, 1, true or false")
        record.value = 1.0 if value else 0.0
        record.string_value = "True" if value else "False"
    else:
        if not isinstance(value, str):
            raise Invalid(f"value of a {data_type} score must be a string")
        if data_type == "TEXT" and not 1 <= len(value) <= MAX_TEXT_SCORE:
            raise Invalid(f"value of a TEXT score must have 1..{MAX_TEXT_SCORE} characters")
        if data_type == "CORRECTION" and config_id is not None:
            raise Invalid("configId is not allowed on CORRECTION scores")
        record.value = 0.0
        record.string_value = value


def _source(body: dict[str, Any], allow_eval: bool) -> str:
    raw = opt_str(body, "source")
    if raw is None:
        return "API"
    allowed = _ALL_SOURCES if allow_eval else _API_SOURCES
    if raw not in allowed:
        reason = " (EVAL is reserved for evaluators)" if raw == "EVAL" else ""
        raise Invalid(f"source must be {' or '.join(allowed)}{reason}, got {raw!r}")
    return raw


def parse_score(
    body: Any, project_id: str, *, now_us: int, allow_eval: bool = False
) -> ScoreRecord:
    """Validate one score object and build its ``ScoreRecord`` (rules: module docstring).

    Args:
        body: the decoded JSON value.
        project_id: the authenticated project.
        now_us: receive time, Unix µs (default timestamp).
        allow_eval: accept ``source = EVAL`` (ingestion events); POST /scores rejects it.

    Raises:
        Invalid: the message names the offending field.
    """
    if not isinstance(body, dict):
        raise Invalid("a score must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name is required and must be a non-empty string")
    if "value" not in body or body["value"] is None:
        raise Invalid("value is required")
    ids = {
        field: opt_str(body, camel)
        for field, camel in (
            ("trace_id", "traceId"),
            ("session_id", "sessionId"),
            ("observation_id", "observationId"),
            ("dataset_run_id", "datasetRunId"),
        )
    }
    if not (ids["trace_id"] or ids["session_id"] or ids["dataset_run_id"]):
        raise Invalid("one of traceId, sessionId or datasetRunId is required")
    if ids["observation_id"] and not ids["trace_id"]:
        raise Invalid("observationId requires traceId")
    value = body["value"]
    data_type = _data_type(body, value)
    config_id = opt_str(body, "configId")
    timestamp = opt_time_us(body, "timestamp")
    record = ScoreRecord(
        project_id=project_id,
        id=opt_str(body, "id") or str(uuid.uuid4()),
        timestamp_us=now_us if timestamp is None else timestamp,
        name=name,
        data_type=data_type,
        source=_source(body, allow_eval),
        environment=opt_environment(body) or "default",
        metadata=metadata_map(body.get("metadata")),
    )
    _set_value(record, data_type, value, config_id)
    optional = {
        **ids,
        "comment": opt_str(body, "comment"),
        "config_id": config_id,
        "queue_id": opt_str(body, "queueId"),
    }
    for field, text in optional.items():
        if text:
            setattr(record, field, text)
    return record
