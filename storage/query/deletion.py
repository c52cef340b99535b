"""``DELETE /api/public/traces/{traceId}`` and ``DELETE /api/public/traces``
(docs/reference/langfuse.md §5; deletes as in §2.7).

A deletion removes, in the caller's project only, the trace rows, their observations, the
scores attached to them and the GenAI log content kept for them (``log_io``), with ClickHouse
lightweight deletes::

    DELETE FROM <table> WHERE project_id = {project_id:String} AND <trace column> IN {ids}

Why lightweight ``DELETE`` rather than inserting ``is_deleted = 1`` rows: it is what Langfuse does
(§2.7); it needs no read-modify-write of every row version (an ``is_deleted`` row must repeat the
full sorting key — ``start_time`` for observations — so it would first read each row); the rows
disappear for every reader at once, ``FINAL`` or not (the writer's redelivery check reads without
``FINAL``); and the mask is applied synchronously (``lightweight_deletes_sync``), so the trace is
404 as soon as the request returns. It requires ClickHouse >= 23.3 (chdb 4.x has it).

Order: kept log content, observations, then scores, then the trace row, so an interrupted
deletion leaves the trace visible and a retry finishes it. Deleting ids that do not exist (or
belong to another project) changes nothing and still succeeds, like Langfuse's asynchronous
deletion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from storage.query.repository import Repository
from storage.query.values import BadRequest

__all__ = ["MAX_TRACE_IDS", "TraceDeletion", "delete_traces", "parse_trace_ids"]

TraceDeletion = Callable[[str, list[str]], None]
"""``(project_id, trace_ids) -> None``: deletes those traces as ``delete_traces`` does; where the
writer keeps merged trace states in memory (all-in-one, processor role), it is
``ClickHouseWriter.deleting`` around ``delete_traces``."""

MAX_TRACE_IDS = 1000
"""Most trace ids one ``DELETE /traces`` request may name."""

_TABLES = (
    ("log_io", "trace_id"),  # kept GenAI log content, so a resent span cannot bring it back
    ("observations", "trace_id"),
    ("scores", "trace_id"),
    ("traces", "id"),
)


def parse_trace_ids(body: bytes) -> list[str]:
    """The ``traceIds`` of a ``DELETE /traces`` body ``{"traceIds": ["...", ...]}``.

    Raises:
        BadRequest: not JSON, no ``traceIds``, empty, more than ``MAX_TRACE_IDS``, or an id that
            is not a non-empty string.
    """
    try:
        decoded: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        raise BadRequest('body must be JSON: {"traceIds": ["..."]}') from None
    ids = decoded.get("traceIds") if isinstance(decoded, dict) else None
    if not isinstance(ids, list) or not ids:
        raise BadRequest("traceIds must be a non-empty array of trace ids")
    if len(ids) > MAX_TRACE_IDS:
        raise BadRequest(f"traceIds holds {len(ids)} ids; at most {MAX_TRACE_IDS} per request")
    if not all(isinstance(i, str) and i for i in ids):
        raise BadRequest("traceIds must hold non-empty strings")
    return list(dict.fromkeys(ids))


def delete_traces(repo: Repository, project_id: str, trace_ids: list[str]) -> None:
    """Delete ``trace_ids`` of ``project_id`` with their observations and scores.

    Raises:
        RetryableError / PermanentError: from the client (a retry is safe: deletes are
            idempotent).
    """
    params = {"project_id": project_id, "trace_ids": trace_ids}
    for table, column in _TABLES:
        repo.client.command(
            f"DELETE FROM {repo.database}.{table} WHERE project_id = {{project_id:String}}"
            f" AND {column} IN {{trace_ids:Array(String)}}",
            params,
        )
