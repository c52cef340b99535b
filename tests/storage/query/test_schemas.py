"""The response models (``storage.query.schemas``) and the shaping functions cannot drift.

For a fully populated row of every kind, each shaping function's output has exactly the keys,
in the same order, that the generated component schema of its response declares (recursively:
nested objects and array items too), and converts strictly back into its model; partially
populated rows (every score data type and subject, every observation field group alone)
convert too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from storage.postgres.model_defs import StoredModel, StoredTier, model_json
from storage.postgres.prompt_defs import (
    PromptMetaRow,
    StoredPrompt,
    prompt_json,
    prompt_meta_json,
)
from storage.query import observations, schemas, traces
from storage.query.metrics_daily import daily_metrics_json
from storage.query.observations_v2 import FIELD_GROUPS, observation_v2_json
from storage.query.schemas import ObservationV2, json_keys
from storage.query.scores.shapes import (
    score_v1_json,
    score_v2_json,
    score_v3_json,
    trace_summary_json,
)
from storage.query.sessions import SessionDetail, session_detail_json, session_json
from tests.support.http import all_in_one_document

US = 1_763_770_000_123_456
SCHEMAS: dict[str, Any] = all_in_one_document()["components"]["schemas"]
ALL_GROUPS = tuple(FIELD_GROUPS)
SCORE_GROUPS = frozenset({"details", "subject", "annotation"})


def trace_row(**over: Any) -> dict[str, Any]:
    row = {
        "id": "t1", "project_id": "p1", "timestamp_us": US, "name": "agent",
        "input": '{"q": 1}', "output": "plain", "session_id": "s1", "release": "r1",
        "version": "v1", "user_id": "u1", "metadata": {"a": '{"b": 2}', "c": "x"},
        "tags": ["x", "y"], "public": 1, "bookmarked": 0, "environment": "default",
        "created_at_us": US + 1, "updated_at_us": US + 2, "end_time_us": US + 1_500_000,
        "total_cost": "0.25", "observation_ids": ["o1"], "score_ids": ["sc1"],
    }  # fmt: skip
    return {**row, **over}


def observation_row(**over: Any) -> dict[str, Any]:
    row = {
        "id": "o1", "project_id": "p1", "trace_id": "t1", "parent_observation_id": "o0",
        "is_app_root": False,
        "name": "llm", "type": "GENERATION", "environment": "default", "start_time_us": US,
        "end_time_us": US + 2_000_000, "completion_start_time_us": US + 500_000,
        "version": "v1", "release": "r1", "created_at_us": US + 1, "updated_at_us": US + 2,
        "input": '[{"role": "user"}]', "output": "hi", "metadata": {"k": "1"},
        "level": "DEFAULT", "status_message": "ok", "provided_model_name": "gpt-4o",
        "model_parameters": '{"temperature": 0.5}', "prompt_id": "pr1", "prompt_name": "p",
        "prompt_version": 3, "usage_details": {"input": 10, "output": 5, "total": 15},
        "cost_details": {"input": "0.1", "output": "0.2"}, "usage_pricing_tier_id": "tier",
        "usage_pricing_tier_name": "Standard", "internal_model_id": "m1", "total_cost": "0.3",
        "usage_estimated": 1, "metadata_preview": {"k": "1"},
        "trace": {"id": "t1", "name": "agent", "user_id": "u1", "session_id": "s1",
                  "tags": ["x"], "public": 1, "bookmarked": 1, "release": "r0"},
    }  # fmt: skip
    return {**row, **over}


def score_row(**over: Any) -> dict[str, Any]:
    """A CATEGORICAL score on an observation: every key of Score v2 is present."""
    row = {
        "id": "sc1", "project_id": "p1", "trace_id": "t1", "session_id": "s1",
        "observation_id": "o1", "dataset_run_id": "d1", "name": "quality", "source": "API",
        "timestamp_us": US, "created_at_us": US + 1, "updated_at_us": US + 2,
        "author_user_id": "a1", "comment": "good", "metadata": {"m": "[1]"}, "config_id": "c1",
        "queue_id": "q1", "environment": "default", "data_type": "CATEGORICAL", "value": 2.0,
        "string_value": "red",
    }  # fmt: skip
    return {**row, **over}


def _session() -> dict[str, Any]:
    return {"id": "s1", "project_id": "p1", "created_at_us": US, "environment": "default"}


def _daily() -> dict[str, Any]:
    model = {"model": "gpt-4o", "input_usage": 10, "output_usage": 5, "total_usage": 15,
             "count_observations": 2, "count_traces": 1, "total_cost": "0.5"}  # fmt: skip
    return {"date": "2025-11-22", "count_traces": 3, "models": [model, {**model, "model": ""}]}


def _score_list_item() -> dict[str, Any]:
    """As ``GET /v2/scores`` builds it (``scores.routes``)."""
    item = score_v2_json(score_row())
    summary = {"user_id": "u1", "tags": ["x"], "environment": "default", "session_id": "s1"}
    item["trace"] = trace_summary_json(summary)
    return item


def _model() -> dict[str, Any]:
    moment = datetime(2025, 11, 22, tzinfo=UTC)
    condition = {"usageDetailPattern": "input", "operator": "gt", "value": 1000.0}
    # every list populated (the shape check needs an item), so the default tier has a
    # condition here although a stored default tier never has one
    tiers = (
        StoredTier("t0", "Standard", True, 0, (condition,), {"input": Decimal("0.001")}),
        StoredTier("t1", "Long", False, 1, (condition,), {"input": Decimal("0.002")}),
    )
    return model_json(
        StoredModel(
            "m1", "p1", "acme", "^acme$", moment, "TOKENS", "openai", {"k": 1}, moment, moment,
            tiers,
        )
    )  # fmt: skip


def _prompt() -> dict[str, Any]:
    moment = datetime(2025, 11, 22, tzinfo=UTC)
    return prompt_json(
        StoredPrompt(
            "pr1", "p1", "greet", 2, "text", "Hi {{name}}", {"t": 0.5}, ("production",),
            ("x",), "first", moment, moment,
        )
    )  # fmt: skip


def _prompt_meta() -> dict[str, Any]:
    moment = datetime(2025, 11, 22, tzinfo=UTC)
    return prompt_meta_json(
        PromptMetaRow("greet", "chat", (1, 2), ("latest",), ("x",), moment, {"t": 1})
    )


FULL: dict[str, Callable[[], Any]] = {
    "Trace": lambda: traces.trace_json(trace_row()),
    "TraceListItem": lambda: traces.trace_list_item_json(trace_row()),
    "TraceWithFullDetails": lambda: traces.trace_detail_json(
        traces.TraceDetail(trace_row(), [observation_row()], "1.5", [score_row()])
    ),
    "ObservationsView": lambda: observations.observation_json(observation_row()),
    "ObservationV2": lambda: observation_v2_json(observation_row(), ALL_GROUPS),
    "Session": lambda: session_json(_session()),
    "SessionWithTraces": lambda: session_detail_json(SessionDetail(_session(), [trace_row()])),
    "DailyMetricsDetails": lambda: daily_metrics_json(_daily()),
    "ScoreV2": lambda: score_v2_json(score_row()),
    "ScoreV1": lambda: score_v1_json(score_row()),
    "ScoreV2ListItem": _score_list_item,
    "ScoreV3": lambda: score_v3_json(score_row(), SCORE_GROUPS),
    "Model": _model,
    "Prompt": _prompt,
    "PromptMeta": _prompt_meta,
}
"""Response schema name -> the shaping function's output for a fully populated row."""


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = SCHEMAS[ref.removeprefix("#/components/schemas/")]
    return resolved


def _same_keys(value: Any, schema: dict[str, Any], where: str) -> None:
    """``value`` has exactly the declared keys, in order, at every level with properties."""
    schema = _resolve(schema)
    if value is None:
        return
    for branch in schema.get("anyOf", ()):
        if _resolve(branch).get("type") != "null":
            _same_keys(value, branch, where)
    if "properties" in schema and isinstance(value, dict):
        assert list(value) == list(schema["properties"]), where
        for key, item in value.items():
            _same_keys(item, schema["properties"][key], f"{where}.{key}")
    if "items" in schema and isinstance(value, list):
        assert value, f"{where}: populate at least one item"
        for n, item in enumerate(value):
            _same_keys(item, schema["items"], f"{where}[{n}]")


def _validate(value: Any, name: str) -> None:
    """``value`` converts (strictly) to the model ``name``: types, required keys, no others."""
    model = getattr(schemas, name)
    msgspec.convert(value, model)


@pytest.mark.parametrize("name", sorted(FULL))
def test_full_rows_emit_exactly_the_declared_keys(name: str) -> None:
    body = FULL[name]()
    _same_keys(body, SCHEMAS[name], name)
    _validate(body, name)


def test_every_item_schema_of_a_shaping_function_is_covered() -> None:
    """Every component holding ``data`` items or nested in one is checked above (or built by a
    route handler: the page wrappers, projects, health, errors, POST results)."""
    built_by_handlers = {
        "DailyMetrics", "Error", "Health", "IngestionError", "IngestionResult",
        "IngestionSuccess", "Message", "MetricsResponse", "ObservationsV2Meta",
        "ObservationsV2Response", "ObservationsViews", "Organization", "PageMeta", "Project",
        "Projects", "ScoreCreated", "ScoreError", "ScoresAccepted", "ScoresPartiallyAccepted",
        "ScoresV2", "ScoresV3", "ScoresV3Meta", "Sessions", "Traces", "Models",
        "PromptMetaList",
    }  # fmt: skip
    nested = {
        "ObservationUsage", "ScoreSubject", "ScoreTraceSummary", "UsageByModel", "ModelPrice",
        "PricingTier",
    }  # fmt: skip
    generated = {name for name, schema in SCHEMAS.items() if "title" in schema}
    assert generated == set(FULL) | built_by_handlers | nested


def test_field_groups_are_the_observation_v2_keys_in_order() -> None:
    flat = [key for keys in FIELD_GROUPS.values() for key in keys]
    assert flat == list(json_keys(ObservationV2))
    assert SCHEMAS["ObservationV2"]["required"] == list(FIELD_GROUPS["core"])


@pytest.mark.parametrize("group", ALL_GROUPS)
def test_each_observation_v2_group_alone(group: str) -> None:
    groups = tuple(dict.fromkeys(("core", group)))
    body = observation_v2_json(observation_row(), groups)
    assert list(body) == [k for g in groups for k in FIELD_GROUPS[g]]
    _validate(body, "ObservationV2")


@pytest.mark.parametrize(
    "row",
    [
        score_row(data_type="NUMERIC", value=0.5, string_value=None),
        score_row(data_type="BOOLEAN", value=1.0, string_value="True", observation_id=None),
        score_row(data_type="TEXT", value=None, string_value="long", observation_id=None,
                  trace_id=None),
        score_row(observation_id=None, trace_id=None, session_id=None),
        score_row(observation_id=None, trace_id=None, session_id=None, dataset_run_id=None),
    ],
    ids=["numeric", "boolean-trace", "text-session", "experiment", "no-subject"],
)  # fmt: skip
def test_scores_of_every_type_and_subject(row: dict[str, Any]) -> None:
    _validate(score_v2_json(row), "ScoreV2")
    _validate(score_v1_json(row), "ScoreV1")
    for fields in (frozenset(), SCORE_GROUPS, frozenset({"subject"})):
        _validate(score_v3_json(row, fields), "ScoreV3")


def test_nullable_rows_validate() -> None:
    trace = trace_row(name="", session_id=None, end_time_us=None, release=None, user_id=None)
    _validate(traces.trace_json(trace), "Trace")
    observation = observation_row(
        parent_observation_id=None, cost_details={}, total_cost=None, model_parameters=None,
        end_time_us=None, completion_start_time_us=None, name="", trace=None, release=None,
    )  # fmt: skip
    _validate(observations.observation_json(observation), "ObservationsView")
    _validate(observation_v2_json(observation, ALL_GROUPS), "ObservationV2")
    assert trace_summary_json(None) is None
