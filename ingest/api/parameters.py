"""OpenAPI descriptions of the query parameters several Langfuse API resources share: page
pagination, time ranges, environments and the ``filter`` JSON conditions (langfuse/langfuse
``fern/apis/server/definition/commons.yml``; docs/reference/langfuse.md §5 "Filter JSON")."""

from __future__ import annotations

from collections.abc import Iterable

from ingest.http.openapi import ANY, STRING, TIME_IN, Schema, array, query_param
from storage.query.filters import MAX_CONDITIONS, OPERATORS
from storage.query.params import MAX_PAGE

__all__ = ["ENVIRONMENT", "PAGE", "TIME_RANGE", "filter_array"]

PAGE: list[Schema] = [
    query_param(
        "page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "page number, from 1"
    ),
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "items per page"),
]
"""``page`` and ``limit`` (``storage.query.params.parse_page``)."""

TIME_RANGE: list[Schema] = [
    query_param("fromTimestamp", TIME_IN, "timestamp >= (ISO-8601)"),
    query_param("toTimestamp", TIME_IN, "timestamp < (ISO-8601)"),
]
"""``fromTimestamp`` (inclusive) and ``toTimestamp`` (exclusive)."""

ENVIRONMENT: Schema = query_param("environment", STRING, "any of", repeat=True)
"""``environment``, repeatable: any of the values."""


def _filter_condition(columns: Iterable[str]) -> Schema:
    """One filter condition over ``columns``."""
    return {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": list(OPERATORS)},
            "column": {"type": "string", "enum": sorted(columns)},
            "operator": {
                "type": "string",
                "enum": sorted({op for ops in OPERATORS.values() for op in ops}),
            },
            "value": ANY,
            "key": STRING,
        },
        "required": ["type", "column", "operator"],
        "additionalProperties": False,
    }


def filter_array(columns: Iterable[str]) -> Schema:
    """The ``filter`` parameter: at most ``MAX_CONDITIONS`` conditions over ``columns``."""
    return {**array(_filter_condition(columns)), "maxItems": MAX_CONDITIONS}
