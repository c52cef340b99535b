"""Query parameters of the score read API (docs/reference/langfuse.md §5 GET /v2/scores,
/v3/scores).

Parsers return frozen dataclasses or raise ``storage.query.params.BadRequest`` with a message
the client can act on (400). Times become Unix µs; csv parameters may also be repeated.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field

import orjson

from storage.query.params import BadRequest, parse_limit, parse_timestamp
from storage.query.values import QueryParams
from storage.records import MAX_TIME_US, MIN_TIME_US, SCORE_DATA_TYPES, SCORE_SOURCES

__all__ = [
    "ScoreFilter",
    "V3Query",
    "encode_cursor",
    "parse_score_filter",
    "parse_v3_query",
]

_OPERATORS = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "=": "=", "!=": "!=", "<>": "!="}
_V3_FIELDS = frozenset({"details", "subject", "annotation"})
_V3_VALUE_TYPES = frozenset({"NUMERIC", "BOOLEAN", "CATEGORICAL"})


def _str(params: QueryParams, name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def _csv(params: QueryParams, name: str) -> tuple[str, ...]:
    """Comma-separated values of every occurrence of ``name``, empty items dropped."""
    return tuple(v.strip() for raw in params.getlist(name) for v in raw.split(",") if v.strip())


def _time(params: QueryParams, name: str) -> int | None:
    value = params.get(name)
    return parse_timestamp(value, name) if value else None


def _number(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be a finite number")
    return value


def _choice(value: str | None, allowed: frozenset[str], name: str) -> str | None:
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(sorted(allowed))}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ScoreFilter:
    """Filters of ``GET /v2/scores``; ``None`` / empty means "any"."""

    user_id: str | None = None
    name: str | None = None
    from_us: int | None = None
    to_us: int | None = None
    environments: tuple[str, ...] = ()
    source: str | None = None
    operator: str | None = None
    value: float | None = None
    score_ids: tuple[str, ...] = ()
    config_id: str | None = None
    queue_id: str | None = None
    dataset_run_id: str | None = None
    session_id: str | None = None
    trace_id: str | None = None
    observation_ids: tuple[str, ...] = ()
    data_type: str | None = None
    trace_tags: tuple[str, ...] = ()
    with_trace: bool = True


def parse_score_filter(params: QueryParams) -> ScoreFilter:
    """The ``GET /v2/scores`` filters (module docstring).

    Raises:
        BadRequest: a parameter has an invalid value.
    """
    operator = _str(params, "operator")
    raw_value = _str(params, "value")
    if operator is not None and operator not in _OPERATORS:
        raise BadRequest(f"operator must be one of {', '.join(_OPERATORS)}, got {operator!r}")
    if (operator is None) != (raw_value is None):
        raise BadRequest("operator and value must be given together")
    fields = set(_csv(params, "fields")) or {"score", "trace"}
    if not fields <= {"score", "trace"}:
        raise BadRequest("fields must be a comma-separated subset of score, trace")
    return ScoreFilter(
        user_id=_str(params, "userId"),
        name=_str(params, "name"),
        from_us=_time(params, "fromTimestamp"),
        to_us=_time(params, "toTimestamp"),
        environments=tuple(v for v in params.getlist("environment") if v),
        source=_choice(_str(params, "source"), SCORE_SOURCES, "source"),
        operator=None if operator is None else _OPERATORS[operator],
        value=None if raw_value is None else _number(raw_value, "value"),
        score_ids=_csv(params, "scoreIds"),
        config_id=_str(params, "configId"),
        queue_id=_str(params, "queueId"),
        dataset_run_id=_str(params, "datasetRunId"),
        session_id=_str(params, "sessionId"),
        trace_id=_str(params, "traceId"),
        observation_ids=_csv(params, "observationId"),
        data_type=_choice(_str(params, "dataType"), SCORE_DATA_TYPES, "dataType"),
        trace_tags=tuple(v for v in params.getlist("traceTags") if v),
        with_trace="trace" in fields,
    )


@dataclass(frozen=True, slots=True)
class V3Query:
    """Parameters of ``GET /v3/scores``; ``cursor`` is ``(timestamp_us, id)`` of the last item
    of the previous page."""

    limit: int = 50
    cursor: tuple[int, str] | None = None
    fields: frozenset[str] = frozenset()
    lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Column -> accepted values (id, name, source, data_type, environment, config_id,
    queue_id, author_user_id, trace_id, session_id, observation_id, dataset_run_id)."""
    values: tuple[float, ...] = ()
    string_values: tuple[str, ...] = ()
    value_min: float | None = None
    value_max: float | None = None
    from_us: int | None = None
    to_us: int | None = None


_V3_LISTS = (
    ("id", "id"),
    ("name", "name"),
    ("source", "source"),
    ("dataType", "data_type"),
    ("environment", "environment"),
    ("configId", "config_id"),
    ("queueId", "queue_id"),
    ("authorUserId", "author_user_id"),
    ("traceId", "trace_id"),
    ("sessionId", "session_id"),
    ("observationId", "observation_id"),
    ("experimentId", "dataset_run_id"),
)


def encode_cursor(timestamp_us: int, score_id: str) -> str:
    """The opaque base64url cursor after an item."""
    raw = orjson.dumps({"t": timestamp_us, "i": score_id})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = orjson.loads(raw)
        timestamp_us, score_id = data["t"], data["i"]
        if type(timestamp_us) is not int or not isinstance(score_id, str):
            raise TypeError("bad cursor fields")
        if not MIN_TIME_US <= timestamp_us <= MAX_TIME_US:
            raise ValueError("cursor time out of range")
        return timestamp_us, score_id
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BadRequest("cursor is not a cursor returned by this API") from None


def _v3_values(
    lists: dict[str, tuple[str, ...]], raw: tuple[str, ...]
) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """``value`` filter -> (numeric values, categorical values) for the one given dataType."""
    types = lists.get("data_type", ())
    if len(types) != 1 or types[0] not in _V3_VALUE_TYPES:
        raise BadRequest("value needs exactly one dataType: NUMERIC, BOOLEAN or CATEGORICAL")
    if types[0] == "CATEGORICAL":
        return (), raw
    if types[0] == "BOOLEAN":
        if any(v.lower() not in ("true", "false") for v in raw):
            raise BadRequest('value of BOOLEAN scores must be "true" or "false"')
        return tuple(1.0 if v.lower() == "true" else 0.0 for v in raw), ()
    return tuple(_number(v, "value") for v in raw), ()


def parse_v3_query(params: QueryParams) -> V3Query:
    """The ``GET /v3/scores`` parameters (module docstring).

    Raises:
        BadRequest: a parameter has an invalid value or a combination is not allowed.
    """
    limit = parse_limit(params)
    fields = frozenset(_csv(params, "fields"))
    if not fields <= _V3_FIELDS:
        raise BadRequest(f"fields must be a subset of {', '.join(sorted(_V3_FIELDS))}")
    lists = {column: given for name, column in _V3_LISTS if (given := _csv(params, name))}
    for column in ("source", "data_type"):
        if column in lists:
            lists[column] = tuple(v.upper() for v in lists[column])
    if "session_id" in lists and ({"trace_id", "observation_id", "dataset_run_id"} & set(lists)):
        raise BadRequest("sessionId cannot be combined with traceId, observationId or experimentId")
    if "dataset_run_id" in lists and ({"trace_id", "observation_id"} & set(lists)):
        raise BadRequest("experimentId cannot be combined with traceId or observationId")
    if "observation_id" in lists and "trace_id" not in lists:
        raise BadRequest("observationId requires traceId")
    values: tuple[float, ...] = ()
    string_values: tuple[str, ...] = ()
    raw_values = _csv(params, "value")
    if raw_values:
        values, string_values = _v3_values(lists, raw_values)
    bounds = [_str(params, "valueMin"), _str(params, "valueMax")]
    if any(b is not None for b in bounds) and lists.get("data_type") != ("NUMERIC",):
        raise BadRequest("valueMin and valueMax need dataType=NUMERIC")
    cursor = _str(params, "cursor")
    return V3Query(
        limit=limit,
        cursor=_decode_cursor(cursor) if cursor else None,
        fields=fields,
        lists=lists,
        values=values,
        string_values=string_values,
        value_min=None if bounds[0] is None else _number(bounds[0], "valueMin"),
        value_max=None if bounds[1] is None else _number(bounds[1], "valueMax"),
        from_us=_time(params, "fromTimestamp"),
        to_us=_time(params, "toTimestamp"),
    )
