"""Value conversions every resource's shapes share: stored row values -> Langfuse JSON values
(docs/reference/langfuse.md §5, camelCase). Each resource module turns its rows into the typed
models of ``storage.query.schemas`` (which also generate the OpenAPI component schemas), then
JSON-ready dicts (``schemas.as_json``). Values:

- times: ISO-8601 UTC with microseconds and ``Z`` (``2025-11-22T00:06:40.123456Z``);
- money: USD floats; usage: ints;
- ``input``/``output``/metadata values: JSON-decoded when the text parses, else the text;
- latency / timeToFirstToken: seconds (float).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from storage.nesting import text_deeper_than
from storage.query.values import iso_time

__all__ = [
    "decode_json_text",
    "iso_time",
    "metadata_json",
    "money",
    "reduce_details",
    "seconds_between",
]


def decode_json_text(value: str | None) -> Any:
    """Parse ``value`` as JSON when it is JSON, else return the text unchanged; JSON nested
    deeper than ``storage.nesting.MAX_DEPTH`` is returned as the text too, so a response can
    always be rendered."""
    if value is None:
        return None
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    return value if text_deeper_than(value, decoded) else decoded


def metadata_json(values: Mapping[str, str]) -> dict[str, Any]:
    """Stored metadata (text values) -> JSON values (``decode_json_text`` each)."""
    return {k: decode_json_text(v) for k, v in values.items()}


def seconds_between(start_us: int | None, end_us: int | None) -> float | None:
    """``end_us - start_us`` (Unix µs) in seconds; None when either is missing."""
    if start_us is None or end_us is None:
        return None
    return (int(end_us) - int(start_us)) / 1_000_000


def money(value: str | None) -> float | None:
    """A stored decimal text as USD float; None stays None."""
    return float(value) if value is not None else None


def reduce_details(details: Mapping[str, float]) -> tuple[float, float, float]:
    """Σ of keys containing "input", Σ of keys containing "output", and the ``total`` key
    (input + output when absent) — Langfuse's ``reduceUsageOrCostDetails`` (§4.5)."""
    total_in = sum(v for k, v in details.items() if "input" in k.lower())
    total_out = sum(v for k, v in details.items() if "output" in k.lower())
    total = details.get("total", total_in + total_out)
    return total_in, total_out, total
