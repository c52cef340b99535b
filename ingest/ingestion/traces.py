"""``trace-create`` bodies → trace-only ``ObservationRecord`` (docs/reference/langfuse.md §3.2
TraceBody).

TraceBody (all optional): ``id, timestamp, name, externalId, input, output, sessionId, userId,
environment, metadata, release, version, public, tags[]``. The record has ``trace_only = true``,
``id = trace_id = body.id`` (a uuid4 when absent), ``start_time_us`` = ``timestamp`` or the
envelope timestamp, and the trace fields in ``record.trace``; the writer's trace merge
(``storage.clickhouse.traces``) folds it into the trace row: a later non-empty name, user,
session, release and version win, tags are unioned, metadata keys replaced, input/output set.
``externalId`` is accepted and not stored (as in Langfuse's v3 tables).
"""

from __future__ import annotations

import uuid
from typing import Any

from ingest.ingestion.values import (
    Invalid,
    metadata_map,
    opt_bool,
    opt_environment,
    opt_payload,
    opt_str,
    opt_time_us,
)
from ingest.mapping.context import IngestContext
from storage.records import ObservationRecord, TraceFields

__all__ = ["MAX_TRACE_NAME", "trace_record"]

MAX_TRACE_NAME = 1000
"""Longest trace name Langfuse accepts (TraceBody ``name`` ≤ 1000)."""


def _tags(body: dict[str, Any]) -> list[str]:
    raw = body.get("tags")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise Invalid("tags must be an array of strings")
    return list(dict.fromkeys(t for t in raw if t))


def trace_record(
    body: dict[str, Any], ctx: IngestContext, *, event_time_us: int
) -> ObservationRecord:
    """The trace-only record of one ``trace-create`` body.

    Raises:
        Invalid: a field has the wrong type (the message names it) or the name is too long.
    """
    trace_id = opt_str(body, "id") or str(uuid.uuid4())
    name = opt_str(body, "name")
    if name is not None and len(name) > MAX_TRACE_NAME:
        raise Invalid(f"name must be at most {MAX_TRACE_NAME} characters")
    start = opt_time_us(body, "timestamp")
    opt_str(body, "externalId")  # validated, not stored
    trace = TraceFields(tags=_tags(body), metadata=metadata_map(body.get("metadata")))
    for field, value in (
        ("name", name or None),
        ("user_id", opt_str(body, "userId")),
        ("session_id", opt_str(body, "sessionId")),
        ("public", opt_bool(body, "public")),
        ("input", opt_payload(body, "input")),
        ("output", opt_payload(body, "output")),
    ):
        if value is not None:
            setattr(trace, field, value)
    record = ObservationRecord(
        project_id=ctx.project_id,
        id=trace_id,
        trace_id=trace_id,
        environment=opt_environment(body) or "default",
        start_time_us=event_time_us if start is None else start,
        trace=trace,
        ingestion_sdk_name=ctx.sdk_name,
        ingestion_sdk_version=ctx.sdk_version,
        trace_only=True,
    )
    for field, value in (
        ("release", opt_str(body, "release")),
        ("version", opt_str(body, "version")),
    ):
        if value is not None:
            setattr(record, field, value)
    return record
