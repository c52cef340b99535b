"""Score rows -> Langfuse JSON (langfuse-anchor.md §5 Score v2, ScoreV1, ScoreV3).

Times are ISO-8601 UTC with microseconds and ``Z`` (as ``storage.query.shapes.iso_time``);
metadata values are JSON-decoded when they parse. Self-contained on purpose (imports nothing
from ``storage.query``), so ``storage.query.shapes`` can import ``score_v1_json`` for the
``scores`` of ``GET /traces/{id}`` without an import cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

__all__ = ["score_v1_json", "score_v2_json", "score_v3_json", "trace_summary_json"]

Row = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_time(us: int | None) -> str | None:
    """Unix µs -> ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` (``None`` stays ``None``)."""
    if us is None:
        return None
    return (_EPOCH + timedelta(microseconds=int(us))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decode_json_text(value: str) -> Any:
    """``value`` parsed as JSON, or the text itself when it is not JSON."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _metadata(values: dict[str, str]) -> dict[str, Any]:
    return {k: decode_json_text(v) for k, v in values.items()}


def score_v2_json(row: Row) -> dict[str, Any]:
    """A Langfuse Score (v2) object from a ``SCORE_COLUMNS`` row."""
    data_type = row["data_type"]
    body: dict[str, Any] = {
        "id": row["id"],
        "projectId": row["project_id"],
        "traceId": row["trace_id"],
        "sessionId": row["session_id"],
        "observationId": row["observation_id"],
        "datasetRunId": row["dataset_run_id"],
        "name": row["name"],
        "source": row["source"],
        "timestamp": iso_time(row["timestamp_us"]),
        "createdAt": iso_time(row["created_at_us"]),
        "updatedAt": iso_time(row["updated_at_us"]),
        "authorUserId": row["author_user_id"],
        "comment": row["comment"],
        "metadata": _metadata(row["metadata"]),
        "configId": row["config_id"],
        "queueId": row["queue_id"],
        "environment": row["environment"],
        "dataType": data_type,
    }
    if data_type != "TEXT":
        body["value"] = float(row["value"])
    if data_type != "NUMERIC":
        body["stringValue"] = row["string_value"]
    return body


def score_v1_json(row: Row) -> dict[str, Any]:
    """A ScoreV1 object (the ``scores`` of ``GET /traces/{id}``); same fields as v2."""
    return score_v2_json(row)


def trace_summary_json(summary: Row | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {
        "userId": summary["user_id"],
        "tags": list(summary["tags"]),
        "environment": summary["environment"],
        "sessionId": summary["session_id"],
    }


def _subject(row: Row) -> dict[str, Any] | None:
    if row["observation_id"]:
        return {"kind": "observation", "id": row["observation_id"], "traceId": row["trace_id"]}
    for column, kind in (
        ("trace_id", "trace"),
        ("session_id", "session"),
        ("dataset_run_id", "experiment"),
    ):
        if row[column]:
            return {"kind": kind, "id": row[column]}
    return None


def score_v3_json(row: Row, fields: frozenset[str]) -> dict[str, Any]:
    """A ScoreV3 object: the core fields plus the requested field groups."""
    data_type = row["data_type"]
    value: Any
    if data_type == "NUMERIC":
        value = float(row["value"])
    elif data_type == "BOOLEAN":
        value = bool(row["value"])
    else:
        value = row["string_value"]
    body: dict[str, Any] = {
        "id": row["id"],
        "projectId": row["project_id"],
        "name": row["name"],
        "value": value,
        "dataType": data_type,
        "source": row["source"],
        "timestamp": iso_time(row["timestamp_us"]),
        "environment": row["environment"],
        "createdAt": iso_time(row["created_at_us"]),
        "updatedAt": iso_time(row["updated_at_us"]),
    }
    if "details" in fields:
        body.update(
            comment=row["comment"], configId=row["config_id"], metadata=_metadata(row["metadata"])
        )
    if "subject" in fields:
        body["subject"] = _subject(row)
    if "annotation" in fields:
        body.update(authorUserId=row["author_user_id"], queueId=row["queue_id"])
    return body
