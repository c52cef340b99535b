"""The ``filter`` JSON parameter of the read API (docs/reference/langfuse.md §5 "Filter JSON").

A filter is a JSON array of conditions, all of which must hold::

    [{"type": "string", "column": "name", "operator": "contains", "value": "chat"},
     {"type": "stringObject", "column": "metadata", "key": "customer", "operator": "=",
      "value": "acme"},
     {"type": "datetime", "column": "startTime", "operator": ">=",
      "value": "2025-11-22T00:00:00Z"}]

Everything here is data: ``OPERATORS`` (type -> operator -> SQL template), ``_TYPE_KINDS``
(which column kinds a type applies to) and, per entity, an ``Entity`` whitelist mapping API
column ids *and* Langfuse UI names to trusted SQL expressions. Values and map keys are always
bound as ``{name:Type}`` parameters; nothing the client sends is put into SQL text. Anything
unknown (type, column, operator, a type the column does not support, a value of the wrong
shape) raises ``BadRequest`` with a message naming the accepted choices.

Value shapes: ``datetime`` ISO-8601 text (compared in UTC µs); ``string``/``stringObject``
text (``contains``/``starts with``/``ends with`` are case-insensitive, ``=`` is exact);
``stringOptions``/``categoryOptions``/``arrayOptions`` arrays of text; ``number``/
``numberObject`` JSON numbers; ``boolean``/``booleanObject`` JSON booleans; ``null`` ignores
its value. ``*Object`` types need ``key`` (the map key, e.g. a metadata key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from storage.query.values import BadRequest, parse_timestamp

__all__ = [
    "MAX_CONDITIONS",
    "OPERATORS",
    "Column",
    "Condition",
    "Entity",
    "compile_conditions",
    "parse_conditions",
    "parse_filter_param",
]

MAX_CONDITIONS = 50
"""Most conditions one filter may hold."""

# Column kinds: what a column's SQL expression evaluates to.
STRING, DATETIME, NUMBER, BOOL, ARRAY, MAP, NUMBER_MAP = (
    "string",
    "datetime",
    "number",
    "bool",
    "array",
    "map",
    "number_map",
)


@dataclass(frozen=True, slots=True)
class Column:
    """A filterable column: a trusted SQL expression and what it evaluates to.

    ``group`` names a template of the ``Entity`` the condition must be placed in (a subquery
    over a related table, e.g. a trace column filtered from observations); ``None`` means the
    condition goes straight into the entity's ``WHERE``.
    """

    sql: str
    kind: str
    nullable: bool = False
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Entity:
    """The filterable columns of one endpoint.

    ``columns`` maps every accepted column name (API id and UI label) to its ``Column``;
    ``groups`` maps a group name to a SQL template in which ``{db}`` is replaced by the
    database name and ``{conditions}`` by the group's ``AND``-ed conditions.
    """

    name: str
    columns: Mapping[str, Column]
    groups: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Condition:
    """One validated condition; ``value`` is normalised (Unix µs for datetimes, a list of
    text for options, float for numbers, ``"true"``/``"false"`` for booleanObject)."""

    column: str
    spec: Column
    type: str
    operator: str
    value: Any
    key: str | None = None


# type -> operator -> SQL template over ``{x}`` (the column expression, after the key lookup
# for *Object types) and ``{v}`` (the bound value placeholder).
_STRING_OPS = {
    "=": "{x} = {v:String}",
    "contains": "positionCaseInsensitiveUTF8({x}, {v:String}) > 0",
    "does not contain": "positionCaseInsensitiveUTF8({x}, {v:String}) = 0",
    "starts with": "startsWith(lowerUTF8({x}), lowerUTF8({v:String}))",
    "ends with": "endsWith(lowerUTF8({x}), lowerUTF8({v:String}))",
}
_OPTION_OPS = {
    "any of": "has({v:Array(String)}, {x})",
    "none of": "NOT has({v:Array(String)}, {x})",
}
_NUMBER_OPS = {op: f"{{x}} {op} {{v:Float64}}" for op in ("=", ">", "<", ">=", "<=")}
_BOOL_OPS = {"=": "{x} = {v:Bool}", "<>": "{x} != {v:Bool}"}

OPERATORS: Mapping[str, Mapping[str, str]] = {
    "datetime": {
        op: f"{{x}} {op} fromUnixTimestamp64Micro({{v:Int64}})" for op in (">", "<", ">=", "<=")
    },
    "string": _STRING_OPS,
    "stringOptions": _OPTION_OPS,
    "categoryOptions": _OPTION_OPS,
    "arrayOptions": {
        "any of": "hasAny({x}, {v:Array(String)})",
        "none of": "NOT hasAny({x}, {v:Array(String)})",
        "all of": "hasAll({x}, {v:Array(String)})",
    },
    "number": _NUMBER_OPS,
    "stringObject": _STRING_OPS,
    "numberObject": _NUMBER_OPS,
    "booleanObject": {"=": "{x} = {v:String}", "<>": "{x} != {v:String}"},
    "boolean": _BOOL_OPS,
    "null": {"is null": "{null}", "is not null": "NOT {null}"},
}
"""Filter types and their operators (docs/reference/langfuse.md §5), with the SQL each compiles
to."""

_TYPE_KINDS: Mapping[str, frozenset[str]] = {
    "datetime": frozenset({DATETIME}),
    "string": frozenset({STRING}),
    "stringOptions": frozenset({STRING}),
    "categoryOptions": frozenset({STRING}),
    "arrayOptions": frozenset({ARRAY}),
    "number": frozenset({NUMBER}),
    "stringObject": frozenset({MAP}),
    "numberObject": frozenset({MAP, NUMBER_MAP}),
    "booleanObject": frozenset({MAP}),
    "boolean": frozenset({BOOL}),
    "null": frozenset({STRING, DATETIME, NUMBER, BOOL, ARRAY, MAP, NUMBER_MAP}),
}

# How a *Object condition reads the map entry ``{k:String}`` of column ``{c}``.
_KEY_LOOKUP = {
    "stringObject": "{c}[{k:String}]",
    "booleanObject": "{c}[{k:String}]",
    "numberObject": "if(mapContains({c}, {k:String}), toFloat64OrNull(toString({c}[{k:String}])),"
    " NULL)",
}


def _choices(values: Sequence[str]) -> str:
    return ", ".join(repr(v) for v in values)


def parse_filter_param(
    raw: str | None, entity: Entity, name: str = "filter"
) -> tuple[Condition, ...]:
    """Parse the ``filter`` query parameter (JSON text); empty or absent means no conditions.

    Raises:
        BadRequest: not a JSON array of valid conditions for ``entity``.
    """
    if raw is None or not raw.strip():
        return ()
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(f"{name} must be a JSON array of filter conditions") from None
    return parse_conditions(decoded, entity, name)


def parse_conditions(decoded: Any, entity: Entity, name: str = "filter") -> tuple[Condition, ...]:
    """Validate already-decoded JSON (e.g. a metrics query's ``filters``) against ``entity``.

    Raises:
        BadRequest: not an array of valid conditions, or more than ``MAX_CONDITIONS``.
    """
    if decoded is None:
        return ()
    if not isinstance(decoded, list):
        raise BadRequest(f"{name} must be a JSON array of filter conditions")
    if len(decoded) > MAX_CONDITIONS:
        raise BadRequest(f"{name} holds {len(decoded)} conditions; at most {MAX_CONDITIONS}")
    return tuple(_condition(item, entity, f"{name}[{i}]") for i, item in enumerate(decoded))


def _condition(item: Any, entity: Entity, where: str) -> Condition:
    if not isinstance(item, dict):
        raise BadRequest(f"{where} must be an object with type, column, operator and value")
    type_ = item.get("type")
    column = item.get("column")
    operator = item.get("operator")
    if not isinstance(type_, str) or type_ not in OPERATORS:
        raise BadRequest(f"{where}.type must be one of {_choices(list(OPERATORS))}; got {type_!r}")
    if not isinstance(column, str) or column not in entity.columns:
        known = sorted(entity.columns)
        raise BadRequest(
            f"{where}.column {column!r} is not a filterable {entity.name} column;"
            f" use one of {_choices(known)}"
        )
    operators = OPERATORS[type_]
    if not isinstance(operator, str) or operator not in operators:
        raise BadRequest(
            f"{where}.operator for type {type_!r} must be one of {_choices(list(operators))};"
            f" got {operator!r}"
        )
    spec = entity.columns[column]
    if spec.kind not in _TYPE_KINDS[type_]:
        raise BadRequest(f"{where}: column {column!r} does not support filter type {type_!r}")
    key = None
    if type_ in _KEY_LOOKUP:
        key = item.get("key")
        if not isinstance(key, str) or not key:
            raise BadRequest(f"{where}.key must be a non-empty string for type {type_!r}")
    value = _value(type_, item.get("value"), where)
    return Condition(column, spec, type_, operator, value, key)


def _value(type_: str, value: Any, where: str) -> Any:
    if type_ == "datetime":
        if not isinstance(value, str):
            raise BadRequest(f"{where}.value must be an ISO-8601 timestamp string")
        return parse_timestamp(value, f"{where}.value")
    if type_ in ("string", "stringObject"):
        if not isinstance(value, str):
            raise BadRequest(f"{where}.value must be a string")
        return value
    if type_ in ("stringOptions", "categoryOptions", "arrayOptions"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest(f"{where}.value must be an array of strings")
        return list(value)
    if type_ in ("number", "numberObject"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"{where}.value must be a number")
        return float(value)
    if type_ == "boolean":
        if not isinstance(value, bool):
            raise BadRequest(f"{where}.value must be a boolean")
        return value
    if type_ == "booleanObject":
        if not isinstance(value, bool):
            raise BadRequest(f"{where}.value must be a boolean")
        return "true" if value else "false"
    return None  # "null": the value is ignored


def _null_test(spec: Column) -> str:
    if spec.kind == STRING:
        return f"ifNull({spec.sql}, '') = ''" if spec.nullable else f"{spec.sql} = ''"
    if spec.kind in (ARRAY, MAP, NUMBER_MAP):
        return f"empty({spec.sql})"
    return f"isNull({spec.sql})"


def compile_condition(cond: Condition, prefix: str) -> tuple[str, dict[str, Any]]:
    """One condition as SQL with parameters named ``{prefix}v`` / ``{prefix}k``."""
    spec = cond.spec
    template = OPERATORS[cond.type][cond.operator]
    params: dict[str, Any] = {}
    if cond.type == "null":
        return template.replace("{null}", _null_test(spec)), params
    target = spec.sql
    if cond.key is not None:
        target = _KEY_LOOKUP[cond.type].replace("{c}", spec.sql).replace("{k:", "{" + prefix + "k:")
        params[f"{prefix}k"] = cond.key
    elif spec.kind == STRING and spec.nullable:
        target = f"ifNull({spec.sql}, '')"
    params[f"{prefix}v"] = cond.value
    sql = template.replace("{x}", target).replace("{v:", "{" + prefix + "v:")
    return f"({sql})", params


def compile_conditions(
    conditions: Sequence[Condition], entity: Entity, database: str, prefix: str = "f"
) -> tuple[list[str], dict[str, Any]]:
    """``conditions`` as ``AND``-able SQL conditions and their parameters.

    Conditions on grouped columns are collected per group and placed in the entity's group
    template (one subquery per group). Parameter names are ``{prefix}{i}v``/``{prefix}{i}k``.
    """
    direct: list[str] = []
    grouped: dict[str, list[str]] = {}
    params: dict[str, Any] = {}
    for i, cond in enumerate(conditions):
        sql, cond_params = compile_condition(cond, f"{prefix}{i}")
        params.update(cond_params)
        if cond.spec.group is None:
            direct.append(sql)
        else:
            grouped.setdefault(cond.spec.group, []).append(sql)
    for group, sqls in grouped.items():
        template = entity.groups[group]
        direct.append(
            template.replace("{db}", database).replace("{conditions}", " AND ".join(sqls))
        )
    return direct, params
