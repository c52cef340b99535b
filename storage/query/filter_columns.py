"""Filterable columns of traces and observations (docs/reference/langfuse.md §5 "Filter JSON").

Each column is reachable by its API id (``userId``) and by its Langfuse UI label (``User ID``),
as Langfuse accepts both. SQL expressions are unqualified: they run inside
``FROM traces FINAL`` / ``FROM observations FINAL`` (§2.7). Times compare in UTC; latency,
timeToFirstToken in seconds; costs in USD; tokens as counts.

Trace aggregates (cost, tokens, level counts) are computed over the trace's observations in a
``HAVING`` subquery; observation columns that belong to the trace (user, session, trace name,
trace tags) are matched against the merged ``traces`` row in a subquery.
"""

from __future__ import annotations

from collections.abc import Iterable

from storage.query.filters import (
    ARRAY,
    BOOL,
    DATETIME,
    MAP,
    NUMBER,
    NUMBER_MAP,
    STRING,
    Column,
    Entity,
)
from storage.query.sql import details_input, details_output, details_total, seconds_between

__all__ = ["OBSERVATION_FILTERS", "TRACE_FILTERS"]


def _names(*entries: tuple[Iterable[str], Column]) -> dict[str, Column]:
    return {name: column for names, column in entries for name in names}


def _level_count(level: str) -> Column:
    return Column(f"countIf(level = '{level}')", NUMBER, group="observations")


_AGGREGATED_LEVEL = (
    "multiIf(countIf(level = 'ERROR') > 0, 'ERROR', countIf(level = 'WARNING') > 0, 'WARNING',"
    " countIf(level = 'DEFAULT') > 0, 'DEFAULT', 'DEBUG')"
)

TRACE_FILTERS = Entity(
    "trace",
    _names(
        (("id", "ID"), Column("id", STRING)),
        (("name", "Name"), Column("name", STRING)),
        (("timestamp", "Timestamp"), Column("timestamp", DATETIME)),
        (("userId", "User ID"), Column("user_id", STRING, nullable=True)),
        (("sessionId", "Session ID"), Column("session_id", STRING, nullable=True)),
        (("release", "Release"), Column("release", STRING, nullable=True)),
        (("version", "Version"), Column("version", STRING, nullable=True)),
        (("environment", "Environment"), Column("environment", STRING)),
        (("tags", "Tags"), Column("tags", ARRAY)),
        (("bookmarked", "⭐️"), Column("bookmarked", BOOL)),
        (("public", "Public"), Column("public", BOOL)),
        (("metadata", "Metadata"), Column("metadata", MAP)),
        (("input", "Input"), Column("input", STRING, nullable=True)),
        (("output", "Output"), Column("output", STRING, nullable=True)),
        (
            ("latency", "Latency (s)"),
            Column(seconds_between("timestamp", "ifNull(end_time, timestamp)"), NUMBER),
        ),
        (
            ("totalCost", "Total Cost ($)"),
            Column("sum(toFloat64(ifNull(total_cost, 0)))", NUMBER, group="observations"),
        ),
        (
            ("inputCost", "Input Cost ($)"),
            Column(f"sum({details_input('cost_details')})", NUMBER, group="observations"),
        ),
        (
            ("outputCost", "Output Cost ($)"),
            Column(f"sum({details_output('cost_details')})", NUMBER, group="observations"),
        ),
        (
            ("inputTokens", "Input Tokens"),
            Column(f"sum({details_input('usage_details')})", NUMBER, group="observations"),
        ),
        (
            ("outputTokens", "Output Tokens"),
            Column(f"sum({details_output('usage_details')})", NUMBER, group="observations"),
        ),
        (
            ("totalTokens", "tokens", "Total Tokens"),
            Column(f"sum({details_total('usage_details')})", NUMBER, group="observations"),
        ),
        (("level", "Level"), Column(_AGGREGATED_LEVEL, STRING, group="observations")),
        (("errorCount", "Error Level Count"), _level_count("ERROR")),
        (("warningCount", "Warning Level Count"), _level_count("WARNING")),
        (("defaultCount", "Default Level Count"), _level_count("DEFAULT")),
        (("debugCount", "Debug Level Count"), _level_count("DEBUG")),
    ),
    groups={
        "observations": "id IN (SELECT trace_id FROM {db}.observations FINAL"
        " WHERE project_id = {project_id:String} AND is_deleted = 0"
        " GROUP BY trace_id HAVING {conditions})",
    },
)
"""Columns of ``GET /traces?filter=``."""

OBSERVATION_FILTERS = Entity(
    "observation",
    _names(
        (("id", "ID"), Column("id", STRING)),
        (("traceId", "Trace ID"), Column("trace_id", STRING)),
        (("type", "Type"), Column("type", STRING)),
        (("name", "Name"), Column("name", STRING)),
        (("environment", "Environment"), Column("environment", STRING)),
        (("level", "Level"), Column("level", STRING)),
        (
            ("parentObservationId", "Parent Observation ID"),
            Column("parent_observation_id", STRING, nullable=True),
        ),
        (("statusMessage", "Status Message"), Column("status_message", STRING, nullable=True)),
        (("version", "Version"), Column("version", STRING, nullable=True)),
        (("release", "Release"), Column("release", STRING, nullable=True)),
        (("startTime", "Start Time"), Column("start_time", DATETIME)),
        (("endTime", "End Time"), Column("end_time", DATETIME, nullable=True)),
        (
            ("completionStartTime", "Completion Start Time"),
            Column("completion_start_time", DATETIME, nullable=True),
        ),
        (
            ("model", "providedModelName", "Model"),
            Column("provided_model_name", STRING, nullable=True),
        ),
        (("modelId", "Model ID"), Column("internal_model_id", STRING, nullable=True)),
        (("promptName", "Prompt Name"), Column("prompt_name", STRING, nullable=True)),
        (("promptId", "Prompt ID"), Column("prompt_id", STRING, nullable=True)),
        (("promptVersion", "Prompt Version"), Column("prompt_version", NUMBER, nullable=True)),
        (("metadata", "Metadata"), Column("metadata", MAP)),
        (("usageDetails", "Usage Details"), Column("usage_details", NUMBER_MAP)),
        (("costDetails", "Cost Details"), Column("cost_details", NUMBER_MAP)),
        (("input", "Input"), Column("input", STRING, nullable=True)),
        (("output", "Output"), Column("output", STRING, nullable=True)),
        (("inputTokens", "Input Tokens"), Column(details_input("usage_details"), NUMBER)),
        (("outputTokens", "Output Tokens"), Column(details_output("usage_details"), NUMBER)),
        (
            ("totalTokens", "tokens", "Total Tokens"),
            Column(details_total("usage_details"), NUMBER),
        ),
        (("inputCost", "Input Cost ($)"), Column(details_input("cost_details"), NUMBER)),
        (("outputCost", "Output Cost ($)"), Column(details_output("cost_details"), NUMBER)),
        (
            ("totalCost", "Total Cost ($)"),
            Column("toFloat64(total_cost)", NUMBER, nullable=True),
        ),
        (
            ("latency", "Latency (s)"),
            Column(seconds_between("start_time", "end_time"), NUMBER, nullable=True),
        ),
        (
            ("timeToFirstToken", "Time To First Token (s)"),
            Column(seconds_between("start_time", "completion_start_time"), NUMBER, nullable=True),
        ),
        (("traceName", "Trace Name"), Column("name", STRING, group="trace")),
        (("userId", "User ID"), Column("user_id", STRING, nullable=True, group="trace")),
        (
            ("sessionId", "Session ID"),
            Column("session_id", STRING, nullable=True, group="trace"),
        ),
        (("traceTags", "Trace Tags", "tags"), Column("tags", ARRAY, group="trace")),
    ),
    groups={
        "trace": "trace_id IN (SELECT id FROM {db}.traces FINAL"
        " WHERE project_id = {project_id:String} AND is_deleted = 0 AND {conditions})",
    },
)
"""Columns of ``GET /observations?filter=`` and ``GET /v2/observations?filter=``."""
