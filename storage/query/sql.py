"""Trusted SQL building blocks shared by the read queries (docs/reference/langfuse.md §2, §4.5).

Nothing here takes a client value: ``Where`` collects conditions whose values travel as
``{name:Type}`` parameters, and the helpers build expressions from column names the code chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "Where",
    "details_input",
    "details_output",
    "details_total",
    "seconds_between",
]


class Where:
    """``AND``-ed conditions and their parameters, always scoped to one project.

    Starts with ``project_id = {project_id:String}`` and ``is_deleted = 0`` (on ``alias.``
    columns when ``alias`` is given).
    """

    def __init__(self, project_id: str, alias: str = "") -> None:
        prefix = f"{alias}." if alias else ""
        self.conditions = [f"{prefix}project_id = {{project_id:String}}", f"{prefix}is_deleted = 0"]
        self.params: dict[str, Any] = {"project_id": project_id}

    def add(self, condition: str, **params: Any) -> None:
        """Append ``condition`` (trusted SQL with placeholders) and its parameter values."""
        self.conditions.append(condition)
        self.params.update(params)

    def equal(self, **columns: str | None) -> None:
        """Append ``column = {column:String}`` for each keyword whose value is not None (the
        keyword is both the column and the parameter name)."""
        for column, value in columns.items():
            if value is not None:
                self.conditions.append(f"{column} = {{{column}:String}}")
                self.params[column] = value

    def time_range(self, column: str, from_us: int | None, to_us: int | None) -> None:
        """Append ``column >= from_us`` and ``column < to_us`` (Unix µs, parameters
        ``from_us`` / ``to_us``) for the bounds that are not None."""
        if from_us is not None:
            self.add(f"{column} >= fromUnixTimestamp64Micro({{from_us:Int64}})", from_us=from_us)
        if to_us is not None:
            self.add(f"{column} < fromUnixTimestamp64Micro({{to_us:Int64}})", to_us=to_us)

    def environments(self, environments: Sequence[str]) -> None:
        """Append ``environment IN {environments}`` unless ``environments`` is empty (any)."""
        if environments:
            self.add("environment IN {environments:Array(String)}", environments=environments)

    def extend(self, conditions: list[str], params: dict[str, Any]) -> None:
        """Append several conditions and their parameters."""
        self.conditions.extend(conditions)
        self.params.update(params)

    def sql(self) -> str:
        """The conditions joined with ``AND``."""
        return " AND ".join(self.conditions)


def _keys_containing(map_sql: str, needle: str) -> str:
    return (
        f"arraySum(mapValues(mapFilter((k, v) -> positionCaseInsensitive(k, '{needle}') > 0,"
        f" {map_sql})))"
    )


def details_input(map_sql: str) -> str:
    """Σ of the entries of a usage/cost map whose key contains "input" (§4.5), as Float64."""
    return f"toFloat64({_keys_containing(map_sql, 'input')})"


def details_output(map_sql: str) -> str:
    """Σ of the entries whose key contains "output" (§4.5), as Float64."""
    return f"toFloat64({_keys_containing(map_sql, 'output')})"


def details_total(map_sql: str) -> str:
    """The ``total`` entry, else input + output (Langfuse's ``reduceUsageOrCostDetails``)."""
    return (
        f"if(mapContains({map_sql}, 'total'), toFloat64({map_sql}['total']),"
        f" {details_input(map_sql)} + {details_output(map_sql)})"
    )


def seconds_between(start_sql: str, end_sql: str) -> str:
    """``end - start`` in seconds (Float64, µs precision); NULL when either side is NULL."""
    return f"(toUnixTimestamp64Micro({end_sql}) - toUnixTimestamp64Micro({start_sql})) / 1e6"
