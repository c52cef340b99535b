"""Trace-level fields carried by a span (docs/reference/langfuse.md §1.6, §1.8)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.mapping import IngestContext
from ingest.mapping.trace_fields import parse_tags
from storage.records import TraceFields
from tests.ingest.mapping.spans import PARENT_ID, map_one


def trace(attributes: dict[str, Any], **kwargs: Any) -> TraceFields:
    return map_one(attributes, **kwargs).trace


def test_is_root() -> None:
    assert trace({}).is_root
    assert not trace({}, parent_span_id=PARENT_ID).is_root
    assert trace({"langfuse.internal.as_root": True}, parent_span_id=PARENT_ID).is_root
    assert trace({"langfuse.internal.as_root": "true"}, parent_span_id=PARENT_ID).is_root
    assert not trace({"langfuse.internal.as_root": "yes"}, parent_span_id=PARENT_ID).is_root
    assert trace({}, parent_span_id=bytes(8)).is_root  # all-zero parent: no parent


def test_is_app_root_is_its_own_flag() -> None:
    # Langfuse extractIsAppRoot: true or "true"; it does not make the span a trace root
    for value in (True, "true"):
        record = map_one({"langfuse.internal.is_app_root": value}, parent_span_id=PARENT_ID)
        assert record.is_app_root and not record.trace.is_root
    assert not map_one({"langfuse.internal.is_app_root": "yes"}).is_app_root
    assert not map_one({}).is_app_root


def test_name_is_explicit_only() -> None:
    assert trace({"langfuse.trace.name": "pipeline"}).name == "pipeline"
    assert not trace({}, name="span-name").HasField("name")


USER_ID_ORDER = (
    "langfuse.user.id",
    "user.id",
    "langfuse.observation.metadata.langfuse_user_id",
    "langfuse.trace.metadata.langfuse_user_id",
    "ai.telemetry.metadata.userId",
)


@pytest.mark.parametrize("first", range(len(USER_ID_ORDER)))
def test_user_id_precedence(first: int) -> None:
    present = {key: f"user-from-{key}" for key in USER_ID_ORDER[first:]}
    assert trace(present).user_id == f"user-from-{USER_ID_ORDER[first]}"


def test_user_id_values() -> None:
    assert trace({"user.id": 42}).user_id == "42"  # non-strings as JSON text
    assert not trace({"user.id": ""}).HasField("user_id")


def test_session_id_sources() -> None:
    assert trace({"session.id": "s", "gen_ai.conversation.id": "c"}).session_id == "s"
    assert trace({"gen_ai.conversation.id": "c"}).session_id == "c"
    assert trace({"ai.telemetry.metadata.sessionId": "v"}).session_id == "v"
    assert trace({"langfuse.session.id": "l", "session.id": "s"}).session_id == "l"


def test_metadata_sourced_ids_are_json_decoded_for_sdk_v5() -> None:
    ctx = IngestContext(project_id="p", sdk_name="python", sdk_version="5.0.4")
    attributes = {"langfuse.trace.metadata.langfuse_session_id": '"sess-1"'}
    assert trace(attributes, ctx=ctx).session_id == "sess-1"
    assert trace(attributes).session_id == '"sess-1"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b", "a"], ["a", "b"]),
        ([1, True], ["1", "true"]),
        ('["x", "y"]', ["x", "y"]),
        ("a, b ,c", ["a", "b", "c"]),
        ("single", ["single"]),
        ("[not json", ["[not json"]),
        ("a,,b", ["a", "b"]),
        (7, []),
    ],
)
def test_parse_tags(value: Any, expected: list[str]) -> None:
    assert parse_tags(value) == expected


def test_tag_source_order() -> None:
    assert list(trace({"tag.tags": ["oi"], "langfuse.trace.tags": ["lf"]}).tags) == ["lf"]
    assert list(trace({"tag.tags": ["oi"]}).tags) == ["oi"]
    assert list(trace({"ai.telemetry.metadata.tags": ["v"], "tag.tags": ["oi"]}).tags) == ["v"]
    assert list(trace({}).tags) == []


def test_public_input_output_metadata() -> None:
    fields = trace(
        {
            "langfuse.trace.public": "true",
            "langfuse.trace.input": '{"q": 1}',
            "langfuse.trace.output": ["structured"],
            "langfuse.trace.metadata": '{"a": 1}',
            "langfuse.trace.metadata.b": "two",
        },
        resource={"langfuse.trace.metadata.region": "eu"},
    )
    assert fields.public is True
    assert fields.input == '{"q": 1}'
    assert fields.output == '["structured"]'
    assert dict(fields.metadata) == {"region": '"eu"', "a": "1", "b": '"two"'}
    assert trace({"langfuse.public": False}).public is False
    assert not trace({}).HasField("public")
