"""``GET /api/public/v2/observations``: cursor pagination and field groups
(docs/reference/langfuse.md §5 "ObservationV2").

Response ``{"data": [ObservationV2...], "meta": {"cursor"?: str}}``, newest start first
(``startTime`` desc, then ``traceId`` desc, then ``id`` desc). ``meta.cursor`` is
``base64(JSON {"lastStartTimeTo": ISO-8601, "lastTraceId", "lastId"})`` of the last item and is
absent on the last page (the query fetches ``limit + 1`` rows to know).

Field groups (``fields=core,basic,...``; default ``core,basic``; ``core`` is always included):

- ``core``: id, traceId, startTime, endTime, projectId, parentObservationId, type;
- ``basic``: name, level, statusMessage, version, environment, bookmarked, public, userId,
  sessionId, isRootObservation (no parent, or ``langfuse.internal.is_app_root``: Langfuse
  ``isRootObservation``); trace fields come from the merged trace row;
- ``time``: completionStartTime, createdAt, updatedAt;
- ``io``: input, output (the stored text, not parsed; ``parseIoAsJson=true`` is rejected);
- ``metadata``: metadata (text values cut to 200 characters unless the key is listed in
  ``expandMetadata=k1,k2``);
- ``model``: providedModelName, internalModelId, modelParameters (parsed JSON), modelId,
  inputPrice/outputPrice/totalPrice (decimal strings; ``null``: prices are not stored);
- ``usage``: usageDetails {key: int}, costDetails {key: USD float}, totalCost (USD),
  usagePricingTierName;
- ``prompt``: promptId, promptName, promptVersion;
- ``metrics``: latency, timeToFirstToken (seconds);
- ``trace_context``: tags, release, traceName.

Filters: name, userId, sessionId (the trace's), type, traceId, level, version,
parentObservationId (present but empty => only observations without a parent),
isRootObservation (true/false, as reported), environment (repeatable), fromStartTime (>=),
toStartTime (<), filter (JSON, ``OBSERVATION_FILTERS``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from storage.query.filter_columns import OBSERVATION_FILTERS
from storage.query.filters import Condition, compile_conditions, parse_filter_param
from storage.query.params import int_param, list_param, str_param, time_param
from storage.query.repository import Repository, Row
from storage.query.schemas import ObservationV2, as_json
from storage.query.shapes import decode_json_text, iso_time
from storage.query.sql import Where
from storage.query.values import BadRequest, QueryParams, parse_timestamp

__all__ = [
    "DEFAULT_GROUPS",
    "FIELD_GROUPS",
    "Cursor",
    "ObservationsV2Request",
    "decode_cursor",
    "encode_cursor",
    "list_observations_v2",
    "observation_v2_json",
    "parse_observations_v2",
]

MAX_LIMIT = 1000
METADATA_PREVIEW_CHARS = 200

FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "core": ("id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type"),
    "basic": (
        "name",
        "level",
        "statusMessage",
        "version",
        "environment",
        "bookmarked",
        "public",
        "userId",
        "sessionId",
        "isRootObservation",
    ),
    "time": ("completionStartTime", "createdAt", "updatedAt"),
    "io": ("input", "output"),
    "metadata": ("metadata",),
    "model": (
        "providedModelName",
        "internalModelId",
        "modelParameters",
        "modelId",
        "inputPrice",
        "outputPrice",
        "totalPrice",
    ),
    "usage": ("usageDetails", "costDetails", "totalCost", "usagePricingTierName"),
    "prompt": ("promptId", "promptName", "promptVersion"),
    "metrics": ("latency", "timeToFirstToken"),
    "trace_context": ("tags", "release", "traceName"),
}
"""Field group -> the ObservationV2 keys it adds (§5)."""

DEFAULT_GROUPS = ("core", "basic")

# group -> SELECT items it needs from ``observations``
_GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "core": (
        "id",
        "trace_id",
        "project_id",
        "type",
        "parent_observation_id",
        "toUnixTimestamp64Micro(start_time) AS start_time_us",
        "toUnixTimestamp64Micro(end_time) AS end_time_us",
    ),
    "basic": ("name", "level", "status_message", "version", "environment", "is_app_root"),
    "time": (
        "toUnixTimestamp64Micro(completion_start_time) AS completion_start_time_us",
        "toUnixTimestamp64Micro(created_at) AS created_at_us",
        "toUnixTimestamp64Micro(updated_at) AS updated_at_us",
    ),
    "io": ("input", "output"),
    "metadata": (
        "mapApply((k, v) -> (k, if(has({expand_metadata:Array(String)}, k), v,"
        f" leftUTF8(v, {METADATA_PREVIEW_CHARS}))), metadata) AS metadata_preview",
    ),
    "model": ("provided_model_name", "internal_model_id", "model_parameters"),
    "usage": (
        "usage_details",
        "mapApply((k, v) -> (k, toString(v)), cost_details) AS cost_details",
        "toString(total_cost) AS total_cost",
        "usage_pricing_tier_name",
    ),
    "prompt": ("prompt_id", "prompt_name", "prompt_version"),
    "metrics": ("toUnixTimestamp64Micro(completion_start_time) AS completion_start_time_us",),
    "trace_context": ("release",),
}
_TRACE_GROUPS = frozenset({"basic", "trace_context"})


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last returned row: its start time (Unix µs), trace id and id."""

    start_us: int
    trace_id: str
    id: str


@dataclass(frozen=True, slots=True)
class ObservationsV2Request:
    """A parsed ``GET /v2/observations`` request."""

    groups: tuple[str, ...] = DEFAULT_GROUPS
    expand_metadata: tuple[str, ...] = ()
    limit: int = 50
    cursor: Cursor | None = None
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    type: str | None = None
    trace_id: str | None = None
    level: str | None = None
    version: str | None = None
    parent_observation_id: str | None = None
    """``""`` means "no parent"; ``None`` means any."""
    is_root: bool | None = None
    environments: tuple[str, ...] = ()
    from_start_us: int | None = None
    to_start_us: int | None = None
    conditions: tuple[Condition, ...] = ()


def encode_cursor(cursor: Cursor) -> str:
    """``base64(JSON {"lastStartTimeTo", "lastTraceId", "lastId"})`` (standard alphabet)."""
    body = {
        "lastStartTimeTo": iso_time(cursor.start_us),
        "lastTraceId": cursor.trace_id,
        "lastId": cursor.id,
    }
    return base64.b64encode(orjson.dumps(body)).decode()


def decode_cursor(text: str) -> Cursor:
    """Inverse of ``encode_cursor``; also accepts the URL-safe alphabet and missing padding.

    Raises:
        BadRequest: not a cursor this server issued.
    """
    raw = text.strip().replace("-", "+").replace("_", "/")
    try:
        body = orjson.loads(base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True))
    except (binascii.Error, ValueError):
        raise BadRequest("cursor is not a valid cursor (base64 JSON)") from None
    if not isinstance(body, dict):
        raise BadRequest("cursor is not a valid cursor (base64 JSON)")
    start, trace_id, last_id = (body.get(k) for k in ("lastStartTimeTo", "lastTraceId", "lastId"))
    if not (isinstance(start, str) and isinstance(trace_id, str) and isinstance(last_id, str)):
        raise BadRequest("cursor must hold lastStartTimeTo, lastTraceId and lastId strings")
    return Cursor(parse_timestamp(start, "cursor.lastStartTimeTo"), trace_id, last_id)


def _groups(raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return DEFAULT_GROUPS
    requested = [g.strip() for g in raw.split(",") if g.strip()]
    unknown = [g for g in requested if g not in FIELD_GROUPS]
    if unknown:
        raise BadRequest(
            f"fields: unknown field group(s) {', '.join(unknown)}; use {', '.join(FIELD_GROUPS)}"
        )
    return tuple(g for g in FIELD_GROUPS if g == "core" or g in requested)


def _bool(params: QueryParams, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise BadRequest(f"{name} must be true or false, got {raw!r}")


def parse_observations_v2(params: QueryParams) -> ObservationsV2Request:
    """Parse the query string of ``GET /v2/observations`` (see the module docstring).

    Raises:
        BadRequest: unknown field group, bad limit/cursor/time/filter, ``parseIoAsJson=true``.
    """
    if _bool(params, "parseIoAsJson"):
        raise BadRequest("parseIoAsJson=true is not supported; input and output are raw strings")
    cursor_text = params.get("cursor")
    expand = params.get("expandMetadata") or ""
    return ObservationsV2Request(
        groups=_groups(params.get("fields")),
        expand_metadata=tuple(k.strip() for k in expand.split(",") if k.strip()),
        limit=int_param(params, "limit", 50, 1, MAX_LIMIT),
        cursor=decode_cursor(cursor_text) if cursor_text else None,
        name=str_param(params, "name"),
        user_id=str_param(params, "userId"),
        session_id=str_param(params, "sessionId"),
        type=str_param(params, "type"),
        trace_id=str_param(params, "traceId"),
        level=str_param(params, "level"),
        version=str_param(params, "version"),
        parent_observation_id=params.get("parentObservationId"),
        is_root=_bool(params, "isRootObservation"),
        environments=list_param(params, "environment"),
        from_start_us=time_param(params, "fromStartTime"),
        to_start_us=time_param(params, "toStartTime"),
        conditions=parse_filter_param(params.get("filter"), OBSERVATION_FILTERS),
    )


def _where(repo: Repository, project_id: str, req: ObservationsV2Request) -> Where:
    where = Where(project_id)
    where.equal(
        name=req.name, type=req.type, trace_id=req.trace_id, level=req.level, version=req.version
    )
    if req.parent_observation_id == "":
        where.add("parent_observation_id IS NULL")
    elif req.parent_observation_id is not None:
        where.add("parent_observation_id = {parent_id:String}", parent_id=req.parent_observation_id)
    if req.is_root is not None:
        where.add(
            "(isNull(parent_observation_id) OR is_app_root) = {is_root:Bool}", is_root=req.is_root
        )
    where.environments(req.environments)
    where.time_range("start_time", req.from_start_us, req.to_start_us)
    trace_conditions = []
    if req.user_id is not None:
        trace_conditions.append("user_id = {user_id:String}")
        where.params["user_id"] = req.user_id
    if req.session_id is not None:
        trace_conditions.append("session_id = {session_id:String}")
        where.params["session_id"] = req.session_id
    if trace_conditions:
        where.add(
            f"trace_id IN (SELECT id FROM {repo.database}.traces FINAL"
            " WHERE project_id = {project_id:String} AND is_deleted = 0"
            f" AND {' AND '.join(trace_conditions)})"
        )
    if req.conditions:
        where.extend(*compile_conditions(req.conditions, OBSERVATION_FILTERS, repo.database))
    if req.cursor is not None:
        where.add(
            "(start_time, trace_id, id) < (fromUnixTimestamp64Micro({cursor_start_us:Int64}),"
            " {cursor_trace_id:String}, {cursor_id:String})",
            cursor_start_us=req.cursor.start_us,
            cursor_trace_id=req.cursor.trace_id,
            cursor_id=req.cursor.id,
        )
    return where


def list_observations_v2(
    repo: Repository, project_id: str, req: ObservationsV2Request
) -> tuple[list[Row], Cursor | None]:
    """One page of observation rows (with ``trace`` rows attached when a trace-backed group is
    requested) and the cursor of the next page (``None`` on the last page)."""
    where = _where(repo, project_id, req)
    columns: list[str] = []
    for group in req.groups:
        columns.extend(c for c in _GROUP_COLUMNS[group] if c not in columns)
    params = {**where.params, "limit": req.limit + 1}
    if "metadata" in req.groups:
        params["expand_metadata"] = list(req.expand_metadata)
    rows = repo.client.select(
        f"SELECT {', '.join(columns)} FROM {repo.database}.observations FINAL"
        f" WHERE {where.sql()} ORDER BY start_time DESC, trace_id DESC, id DESC"
        " LIMIT {limit:UInt32}",
        params,
    )
    next_cursor = None
    if len(rows) > req.limit:
        rows = rows[: req.limit]
        last = rows[-1]
        next_cursor = Cursor(int(last["start_time_us"]), last["trace_id"], last["id"])
    if rows and _TRACE_GROUPS.intersection(req.groups):
        traces = {
            t["id"]: t
            for t in repo.client.select(
                "SELECT id, name, user_id, session_id, tags, public, bookmarked, release"
                f" FROM {repo.database}.traces FINAL WHERE project_id = {{project_id:String}}"
                " AND is_deleted = 0 AND id IN {trace_ids:Array(String)}",
                {"project_id": project_id, "trace_ids": sorted({r["trace_id"] for r in rows})},
            )
        }
        for row in rows:
            row["trace"] = traces.get(row["trace_id"])
    return rows, next_cursor


def _seconds(start_us: Any, end_us: Any) -> float | None:
    if start_us is None or end_us is None:
        return None
    return (int(end_us) - int(start_us)) / 1_000_000


def observation_v2_json(row: Row, groups: tuple[str, ...]) -> dict[str, Any]:
    """An ``ObservationV2`` holding exactly the keys of ``groups`` (``FIELD_GROUPS``;
    ``schemas.ObservationV2``)."""
    trace = row.get("trace") or {}
    item = ObservationV2(
        id=row["id"],
        trace_id=row["trace_id"],
        start_time=iso_time(row["start_time_us"]),
        end_time=iso_time(row["end_time_us"]),
        project_id=row["project_id"],
        parent_observation_id=row["parent_observation_id"],
        type=row["type"],
    )
    if "basic" in groups:
        item.name = row["name"] or None
        item.level = row["level"]
        item.status_message = row["status_message"]
        item.version = row["version"]
        item.environment = row["environment"]
        item.bookmarked = bool(trace.get("bookmarked", False))
        item.public = bool(trace.get("public", False))
        item.user_id = trace.get("user_id")
        item.session_id = trace.get("session_id")
        item.is_root_observation = row["parent_observation_id"] is None or bool(row["is_app_root"])
    if "time" in groups:
        item.completion_start_time = iso_time(row["completion_start_time_us"])
        item.created_at = iso_time(row["created_at_us"])
        item.updated_at = iso_time(row["updated_at_us"])
    if "io" in groups:
        item.input = row["input"]
        item.output = row["output"]
    if "metadata" in groups:
        item.metadata = dict(row["metadata_preview"])
    if "model" in groups:
        parameters = row["model_parameters"]
        item.provided_model_name = row["provided_model_name"]
        item.internal_model_id = row["internal_model_id"]
        item.model_parameters = decode_json_text(parameters) if parameters is not None else None
        item.model_id = row["internal_model_id"]
        item.input_price = item.output_price = item.total_price = None
    if "usage" in groups:
        total = row["total_cost"]
        item.usage_details = {k: int(v) for k, v in row["usage_details"].items()}
        item.cost_details = {k: float(v) for k, v in row["cost_details"].items()}
        item.total_cost = float(total) if total is not None else None
        item.usage_pricing_tier_name = row["usage_pricing_tier_name"]
    if "prompt" in groups:
        item.prompt_id = row["prompt_id"]
        item.prompt_name = row["prompt_name"]
        item.prompt_version = row["prompt_version"]
    if "metrics" in groups:
        start = row["start_time_us"]
        item.latency = _seconds(start, row["end_time_us"])
        item.time_to_first_token = _seconds(start, row["completion_start_time_us"])
    if "trace_context" in groups:
        item.tags = list(trace.get("tags", []))
        item.release = row["release"] if row["release"] is not None else trace.get("release")
        item.trace_name = trace.get("name") or None
    return as_json(item)
