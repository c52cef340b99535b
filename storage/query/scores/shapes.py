"""Score rows -> Langfuse JSON (docs/reference/langfuse.md §5 Score v2, ScoreV1, ScoreV3).

Times are ISO-8601 UTC with microseconds and ``Z`` (as ``storage.query.values.iso_time``);
metadata values are JSON-decoded when they parse. Rows become the models of
``storage.query.schemas`` (``ScoreV2``, ``ScoreV1``, ``ScoreV3``, ``ScoreTraceSummary``), then
JSON-ready dicts. Imports nothing else from ``storage.query`` (``schemas`` is a leaf module), so
``storage.query.shapes`` can import ``score_v1_model`` for the ``scores`` of
``GET /traces/{id}`` without an import cycle.
"""

from __future__ import annotations

from typing import Any

from storage.query.schemas import (
    UNSET,
    ScoreSubject,
    ScoreTraceSummary,
    ScoreV1,
    ScoreV2,
    ScoreV3,
    as_json,
)
from storage.query.shapes import metadata_json
from storage.query.values import iso_time

__all__ = [
    "score_v1_json",
    "score_v1_model",
    "score_v2_json",
    "score_v3_json",
    "trace_summary_json",
]

Row = dict[str, Any]


def _score_fields(row: Row) -> dict[str, Any]:
    """The ``ScoreV2`` fields of a ``SCORE_COLUMNS`` row (``value``/``stringValue`` by type)."""
    data_type = row["data_type"]
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "trace_id": row["trace_id"],
        "session_id": row["session_id"],
        "observation_id": row["observation_id"],
        "dataset_run_id": row["dataset_run_id"],
        "name": row["name"],
        "source": row["source"],
        "timestamp": iso_time(row["timestamp_us"]),
        "created_at": iso_time(row["created_at_us"]),
        "updated_at": iso_time(row["updated_at_us"]),
        "author_user_id": row["author_user_id"],
        "comment": row["comment"],
        "metadata": metadata_json(row["metadata"]),
        "config_id": row["config_id"],
        "queue_id": row["queue_id"],
        "environment": row["environment"],
        "data_type": data_type,
        "value": float(row["value"]) if data_type != "TEXT" else UNSET,
        "string_value": row["string_value"] if data_type != "NUMERIC" else UNSET,
    }


def score_v2_json(row: Row) -> dict[str, Any]:
    """A Langfuse Score (v2) object from a ``SCORE_COLUMNS`` row (``schemas.ScoreV2``)."""
    return as_json(ScoreV2(**_score_fields(row)))


def score_v1_model(row: Row) -> ScoreV1:
    """A score row as a ``schemas.ScoreV1`` (the ``scores`` of ``GET /traces/{id}``)."""
    return ScoreV1(**_score_fields(row))


def score_v1_json(row: Row) -> dict[str, Any]:
    """A ScoreV1 object (the ``scores`` of ``GET /traces/{id}``); same fields as v2."""
    return as_json(score_v1_model(row))


def trace_summary_json(summary: Row | None) -> dict[str, Any] | None:
    """The ``trace`` of a ``GET /v2/scores`` item (``schemas.ScoreTraceSummary``), or ``None``."""
    if summary is None:
        return None
    return as_json(
        ScoreTraceSummary(
            user_id=summary["user_id"],
            tags=list(summary["tags"]),
            environment=summary["environment"],
            session_id=summary["session_id"],
        )
    )


def _subject(row: Row) -> ScoreSubject | None:
    if row["observation_id"]:
        return ScoreSubject(kind="observation", id=row["observation_id"], trace_id=row["trace_id"])
    if row["trace_id"]:
        return ScoreSubject(kind="trace", id=row["trace_id"])
    if row["session_id"]:
        return ScoreSubject(kind="session", id=row["session_id"])
    if row["dataset_run_id"]:
        return ScoreSubject(kind="experiment", id=row["dataset_run_id"])
    return None


def score_v3_json(row: Row, fields: frozenset[str]) -> dict[str, Any]:
    """A ScoreV3 object: the core fields plus the requested field groups (``schemas.ScoreV3``)."""
    data_type = row["data_type"]
    value: float | bool | str | None
    if data_type == "NUMERIC":
        value = float(row["value"])
    elif data_type == "BOOLEAN":
        value = bool(row["value"])
    else:
        value = row["string_value"]
    score = ScoreV3(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        value=value,
        data_type=data_type,
        source=row["source"],
        timestamp=iso_time(row["timestamp_us"]),
        environment=row["environment"],
        created_at=iso_time(row["created_at_us"]),
        updated_at=iso_time(row["updated_at_us"]),
    )
    if "details" in fields:
        score.comment = row["comment"]
        score.config_id = row["config_id"]
        score.metadata = metadata_json(row["metadata"])
    if "subject" in fields:
        score.subject = _subject(row)
    if "annotation" in fields:
        score.author_user_id = row["author_user_id"]
        score.queue_id = row["queue_id"]
    return as_json(score)
