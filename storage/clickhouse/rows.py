"""Turn an ``ObservationRecord`` into an ``observations`` row for ``Engine.insert_rows``.

Column names and types: ``migrations/0001_create_observations.sql`` (langfuse-anchor.md §2.2,
§2.4). Rows hold engine-neutral Python values (``engine.Engine``); each engine adapts them:

- times: Unix µs (int), range-checked here (``check_time``);
- money: decimal text in USD -> fixed-point text with 12 fractional digits (``Decimal(18,12)``),
  clamped to ±999,999.999999999999 like Langfuse (§3.5);
- maps are dicts, arrays lists; absent ``optional`` fields become ``None``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from storage.errors import PermanentError
from storage.records import MAX_TIME_US, MIN_TIME_US, ObservationRecord

__all__ = [
    "MAX_TIME_US",
    "MIN_TIME_US",
    "check_time",
    "content_hash",
    "decimal_text",
    "observation_row",
]

log = logging.getLogger(__name__)

# The record contract's range (storage.records): 1973-03-03 .. 2286-11-20, where every engine
# stores µs exactly (9 or 10 second digits in text form).

_SCALE = Decimal("1e-12")
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,6}(?:\.[0-9]{1,12})?\Z")
_MAX_MONEY = Decimal("999999.999999999999")


def check_time(us: int, what: str = "time") -> int:
    """Return ``us`` (Unix µs) after checking it is in the supported range.

    Raises:
        PermanentError: ``us`` is outside [``MIN_TIME_US``, ``MAX_TIME_US``].
    """
    if not MIN_TIME_US <= us <= MAX_TIME_US:
        raise PermanentError(f"{what} {us} µs is outside the supported range (1973..2286)")
    return us


def decimal_text(value: str, what: str = "amount") -> str:
    """USD decimal text -> fixed-point text with at most 12 fractional digits (``Decimal(18,12)``).

    Values already in that form pass through; others are rounded half-even to 12 digits and
    clamped to ±999,999.999999999999.

    Raises:
        PermanentError: ``value`` is not a finite decimal number.
    """
    if _PLAIN_DECIMAL.match(value):
        return value  # already fixed-point within range: ClickHouse parses it exactly
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise PermanentError(f"{what} {value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise PermanentError(f"{what} {value!r} is not a finite number")
    if abs(amount) > _MAX_MONEY:
        log.warning("clamping %s %s to ±%s (Decimal(18,12) range)", what, value, _MAX_MONEY)
        amount = _MAX_MONEY.copy_sign(amount)
    return format(amount.quantize(_SCALE, rounding=ROUND_HALF_EVEN), "f")


def _decimal_map(values: Mapping[str, str], what: str) -> dict[str, str]:
    return {k: decimal_text(v, f"{what}[{k}]") for k, v in values.items()}


def content_hash(record: ObservationRecord) -> int:
    """64-bit BLAKE2b of the record's deterministic protobuf bytes (``UInt64``).

    Two deliveries of the same record hash equal, so the writer can skip a redelivered row.
    """
    digest = hashlib.blake2b(record.SerializeToString(deterministic=True), digest_size=8)
    return int.from_bytes(digest.digest(), "big")


def observation_row(
    record: ObservationRecord,
    *,
    record_hash: int,
    created_at_us: int,
    updated_at_us: int,
    event_ts_us: int,
) -> dict[str, Any]:
    """The ``observations`` row of ``record`` as ``{column: value}``; all times are Unix µs.

    Every call returns the keys in the same order, so ``tuple(row.values())`` lines up with
    ``tuple(row)`` of any other row.

    Raises:
        PermanentError: a time is out of range or a money value is not a decimal.
    """
    r = record
    t = r.trace
    rid = r.id
    has = r.HasField
    return {
        "id": rid,
        "trace_id": r.trace_id,
        "project_id": r.project_id,
        "type": r.type or "SPAN",
        "parent_observation_id": r.parent_observation_id if has("parent_observation_id") else None,
        "start_time": check_time(r.start_time_us, f"observation {rid} start_time_us"),
        "end_time": (
            check_time(r.end_time_us, f"observation {rid} end_time_us")
            if has("end_time_us")
            else None
        ),
        "name": r.name,
        "metadata": dict(r.metadata),
        "level": r.level or "DEFAULT",
        "status_message": r.status_message if has("status_message") else None,
        "version": r.version if has("version") else None,
        "release": r.release if has("release") else None,
        "input": r.input if has("input") else None,
        "output": r.output if has("output") else None,
        "provided_model_name": r.provided_model_name if has("provided_model_name") else None,
        "internal_model_id": r.internal_model_id if has("internal_model_id") else None,
        "model_parameters": r.model_parameters if has("model_parameters") else None,
        "provided_usage_details": dict(r.provided_usage_details),
        "usage_details": dict(r.usage_details),
        "provided_cost_details": _decimal_map(r.provided_cost_details, "provided_cost_details"),
        "cost_details": _decimal_map(r.cost_details, "cost_details"),
        "total_cost": decimal_text(r.total_cost, "total_cost") if has("total_cost") else None,
        "completion_start_time": (
            check_time(r.completion_start_time_us, f"observation {rid} completion_start_time_us")
            if has("completion_start_time_us")
            else None
        ),
        "prompt_id": r.prompt_id if has("prompt_id") else None,
        "prompt_name": r.prompt_name if has("prompt_name") else None,
        "prompt_version": r.prompt_version if has("prompt_version") else None,
        "usage_pricing_tier_id": r.usage_pricing_tier_id if has("usage_pricing_tier_id") else None,
        "usage_pricing_tier_name": (
            r.usage_pricing_tier_name if has("usage_pricing_tier_name") else None
        ),
        "usage_estimated": r.usage_estimated,
        "environment": r.environment or "default",
        "is_root": t.is_root,
        "trace_name": t.name if t.HasField("name") else None,
        "user_id": t.user_id if t.HasField("user_id") else None,
        "session_id": t.session_id if t.HasField("session_id") else None,
        "tags": list(t.tags),
        "scope_name": r.scope_name,
        "scope_version": r.scope_version,
        "service_name": r.service_name,
        "service_version": r.service_version,
        "telemetry_sdk_language": r.telemetry_sdk_language,
        "telemetry_sdk_name": r.telemetry_sdk_name,
        "telemetry_sdk_version": r.telemetry_sdk_version,
        "ingestion_sdk_name": r.ingestion_sdk_name,
        "ingestion_sdk_version": r.ingestion_sdk_version,
        "content_hash": record_hash,
        "created_at": check_time(created_at_us, "created_at"),
        "updated_at": check_time(updated_at_us, "updated_at"),
        "event_ts": check_time(event_ts_us, "event_ts"),
        "is_deleted": 0,
    }
