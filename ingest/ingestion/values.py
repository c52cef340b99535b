"""Validation of JSON body fields shared by the ingestion and score endpoints.

Every reader takes the decoded JSON object (``dict``) and a field name (camelCase, as on the
wire) and returns a typed value, or raises ``Invalid`` with a message that names the field
(returned to the client as the 400 reason). ``null`` and an absent field are the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest.mapping.fields import normalize_environment
from ingest.mapping.values import json_encode, json_text
from storage.records import MAX_TIME_US, MIN_TIME_US

__all__ = [
    "Invalid",
    "metadata_map",
    "opt_bool",
    "opt_environment",
    "opt_object",
    "opt_payload",
    "opt_str",
    "opt_time_us",
    "time_us",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Invalid(ValueError):
    """A field has a value the API does not accept; the message names the field."""


def opt_str(body: dict[str, Any], field: str) -> str | None:
    """A string field, or None when absent/null.

    Raises:
        Invalid: the value is not a string.
    """
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string, got {type(value).__name__}")
    return value


def opt_bool(body: dict[str, Any], field: str) -> bool | None:
    """A boolean field, or None when absent/null.

    Raises:
        Invalid: the value is not ``true``/``false``.
    """
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise Invalid(f"{field} must be a boolean, got {type(value).__name__}")
    return value


def opt_object(body: dict[str, Any], field: str) -> dict[str, Any] | None:
    """A JSON-object field, or None when absent/null.

    Raises:
        Invalid: the value is not an object.
    """
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid(f"{field} must be an object, got {type(value).__name__}")
    return value


def time_us(value: Any, field: str) -> int:
    """An ISO-8601 date-time (``2025-11-22T00:06:40.123Z``; no zone means UTC) -> Unix µs.

    Raises:
        Invalid: not a string, not ISO-8601, or outside 1973-03-03..2286-11-20.
    """
    if not isinstance(value, str):
        raise Invalid(f"{field} must be an ISO-8601 date-time string")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{field} must be an ISO-8601 date-time, got {value[:64]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if not MIN_TIME_US <= us <= MAX_TIME_US:
        raise Invalid(f"{field} {value!r} is outside 1973-03-03..2286-11-20")
    return us


def opt_time_us(body: dict[str, Any], field: str) -> int | None:
    """``time_us`` of an optional field."""
    value = body.get(field)
    return None if value is None else time_us(value, field)


def opt_environment(body: dict[str, Any], field: str = "environment") -> str | None:
    """The normalised environment (``ingest.mapping.fields.normalize_environment``, as for
    spans: lowercase, ``^(langfuse[-_]?)+`` stripped, invalid -> ``default``), or None."""
    value = opt_str(body, field)
    return normalize_environment(value) if value else None


def opt_payload(body: dict[str, Any], field: str) -> str | None:
    """An input/output payload as stored: strings as given, other JSON as compact JSON text."""
    value = body.get(field)
    return None if value is None else json_text(value)


def metadata_map(value: Any) -> dict[str, str]:
    """Metadata as stored: top-level keys -> JSON text (``{"k": "v"}`` -> ``{"k": '"v"'}``).

    ``null`` gives ``{}``; a value that is not an object is kept whole under the key
    ``metadata`` (Langfuse accepts any JSON as metadata; the row holds a string map).
    """
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): json_encode(v) for k, v in value.items()}
    return {"metadata": json_encode(value)}
