"""Builders of realistic ``ObservationRecord``s for the storage tests."""

from __future__ import annotations

import uuid
from typing import Any

from storage.records import ObservationRecord

BASE_US = 1_763_770_000_123_456
"""2025-11-22T00:06:40.123456Z, with non-zero microseconds to catch precision loss."""


def new_id(n: int = 16) -> str:
    """A random lowercase hex id of ``n`` characters (span ids 16, trace ids 32)."""
    return uuid.uuid4().hex[:n] if n <= 32 else (uuid.uuid4().hex + uuid.uuid4().hex)[:n]


def record(
    project_id: str,
    trace_id: str,
    obs_id: str | None = None,
    *,
    start_us: int = BASE_US,
    end_us: int | None = BASE_US + 250_001,
    trace: dict[str, Any] | None = None,
    **fields: Any,
) -> ObservationRecord:
    """A SPAN record with sensible defaults; ``fields`` set record fields, ``trace`` TraceFields."""
    rec = ObservationRecord(
        project_id=project_id,
        id=obs_id or new_id(),
        trace_id=trace_id,
        type="SPAN",
        name="step",
        environment="default",
        start_time_us=start_us,
        level="DEFAULT",
    )
    if end_us is not None:
        rec.end_time_us = end_us
    for key, value in fields.items():
        target = getattr(rec, key)
        if isinstance(value, dict):
            target.update(value)
        else:
            setattr(rec, key, value)
    for key, value in (trace or {}).items():
        if key == "tags":
            rec.trace.tags.extend(value)
        elif key == "metadata":
            rec.trace.metadata.update(value)
        else:
            setattr(rec.trace, key, value)
    return rec


def generation(
    project_id: str, trace_id: str, obs_id: str | None = None, **kw: Any
) -> ObservationRecord:
    """A fully populated GENERATION record (every field set), ~1 KB of input and output."""
    prompt = "Summarise the quarterly report. " * 30
    fields: dict[str, Any] = {
        "type": "GENERATION",
        "name": "chat gpt-4o",
        "environment": "production",
        "completion_start_time_us": BASE_US + 120_007,
        "level": "WARNING",
        "status_message": "rate limited once",
        "version": "v7",
        "release": "2025.11.1",
        "input": '[{"role":"user","content":"' + prompt + '"}]',
        "output": '{"role":"assistant","content":"' + ("The report shows growth. " * 40) + '"}',
        "metadata": {"customer": '"acme"', "attempt": "2", "flags": '{"beta":true}'},
        "provided_model_name": "gpt-4o",
        "model_parameters": '{"temperature":0.2,"max_tokens":512}',
        "provided_usage_details": {"input": 1200, "output": 340},
        "provided_cost_details": {},
        "prompt_name": "summary",
        "prompt_version": 3,
        "scope_name": "opentelemetry.instrumentation.openai_v2",
        "scope_version": "2.4b0",
        "service_name": "reporter",
        "service_version": "1.4.2",
        "telemetry_sdk_language": "python",
        "telemetry_sdk_name": "opentelemetry",
        "telemetry_sdk_version": "1.38.0",
        "ingestion_sdk_name": "langfuse-python",
        "ingestion_sdk_version": "5.0.4",
        "usage_details": {"input": 1200, "output": 340, "input_cached_tokens": 100, "total": 1640},
        "cost_details": {
            "input": "0.003000000000",
            "input_cached_tokens": "0.000125",
            "output": "0.0034",
            "total": "0.006525000001",
        },
        "total_cost": "0.006525000001",
        "internal_model_id": "gpt-4o",
        "usage_pricing_tier_id": "tier-standard",
        "usage_pricing_tier_name": "Standard",
        "usage_estimated": False,
        "prompt_id": "prompt-42",
    }
    fields.update(kw)
    return record(project_id, trace_id, obs_id, **fields)
