"""Observation metadata shape: top-level keys, JSON-text values
(docs/reference/langfuse.md §1.12)."""

from __future__ import annotations

import json
from typing import Any

from ingest.mapping import IngestContext
from tests.ingest.mapping.spans import map_one


def metadata(attributes: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The metadata map with every value parsed back from its JSON text."""
    raw = dict(map_one(attributes, **kwargs).metadata)
    return {key: json.loads(value) for key, value in raw.items()}


def test_span_entries_named_like_the_scope_entries_lose_to_them() -> None:
    # ``resourceAttributes`` / ``scope`` come from the record shared by the scope's spans.
    found = metadata(
        {
            "langfuse.observation.metadata.scope": "mine",
            "langfuse.observation.metadata.resourceAttributes": "mine too",
            "langfuse.observation.metadata.k": "v",
        },
        resource={"service.name": "svc"},
        scope_name="my.scope",
    )
    assert found["k"] == "v"
    assert found["resourceAttributes"] == {"service.name": "svc"}
    assert found["scope"]["name"] == "my.scope"


def test_shape_and_unknown_attributes_are_kept() -> None:
    record = map_one(
        {
            "app.custom": "kept",
            "http.status_code": 200,
            "flag": True,
            "list": ["a", 1],
            "gen_ai.usage.input_tokens": 5,
            "langfuse.observation.type": "span",
        },
        resource={"service.name": "svc", "k8s.pod.uid": 7},
        scope_name="my.scope",
        scope_version="2.0",
    )
    raw = dict(record.metadata)
    assert set(raw) == {"attributes", "resourceAttributes", "scope"}
    assert all(isinstance(value, str) for value in raw.values())  # every value is JSON text
    attributes = json.loads(raw["attributes"])
    assert attributes == {
        "app.custom": "kept",
        "http.status_code": "200",  # non-strings stringified as JSON
        "flag": "true",
        "list": '["a",1]',
        "gen_ai.usage.input_tokens": "5",
        "langfuse.observation.type": "span",
    }
    assert json.loads(raw["resourceAttributes"]) == {"service.name": "svc", "k8s.pod.uid": 7}
    assert json.loads(raw["scope"]) == {"name": "my.scope", "version": "2.0", "attributes": {}}


def test_io_and_metadata_families_are_not_copied_into_attributes() -> None:
    attributes = metadata(
        {
            "gen_ai.input.messages": "[]",
            "gen_ai.system_instructions": "x",
            "input.value": "i",
            "gen_ai.prompt.0.content": "p",
            "gen_ai.completion.0.content": "c",
            "llm.input_messages.0.message.content": "m",
            "langfuse.observation.metadata.k": "v",
            "langfuse.trace.metadata.t": "v",
            "ai.telemetry.metadata.team": "core",
            "llm.model_name": "kept",
        }
    )["attributes"]
    assert attributes == {"llm.model_name": "kept"}


def test_observation_metadata_sources_merge_into_top_level_keys() -> None:
    md = metadata(
        {
            "langfuse.observation.metadata": '{"a": 1, "nested": {"b": [1, 2]}, "c": "blob"}',
            "langfuse.observation.metadata.c": "per-key wins",
            "langfuse.metadata.d": 4,
            "ai.telemetry.metadata.team": "core",
            "ai.telemetry.metadata.userId": "not metadata",
            "ai.telemetry.metadata.langfusePrompt": '{"name": "p"}',
            "langfuse.trace.metadata.trace_only": "x",
        },
        resource={"langfuse.trace.metadata.region": "eu"},
    )
    assert {
        k: v for k, v in md.items() if k not in ("attributes", "resourceAttributes", "scope")
    } == {
        "region": "eu",  # resource trace metadata
        "a": 1,
        "nested": {"b": [1, 2]},
        "c": "per-key wins",
        "d": 4,
        "team": "core",
    }


def test_langfuse_metadata_is_the_fallback_blob_and_non_objects_are_dropped() -> None:
    md = metadata({"langfuse.metadata": '{"from": "langfuse.metadata"}'})
    assert md["from"] == "langfuse.metadata"
    md = metadata({"langfuse.observation.metadata": "[1, 2]"})
    assert set(md) == {"attributes", "resourceAttributes", "scope"}


def test_langfuse_sdk_scope_has_no_attributes_key() -> None:
    md = metadata(
        {"langfuse.observation.metadata.k": "v", "langfuse.internal.is_app_root": True},
        scope_name="langfuse-sdk",
        scope_version="3.2.0",
        resource={"telemetry.sdk.language": "python"},
    )
    assert set(md) == {"k", "resourceAttributes", "scope"}
    assert md["k"] == "v"


def test_sdk_v5_metadata_values_are_already_json() -> None:
    attributes = {
        "langfuse.observation.metadata.count": "1",
        "langfuse.observation.metadata.name": '"acme"',
        "langfuse.observation.metadata.raw": "not json",
        "ai.telemetry.metadata.n": "1",  # not a Langfuse key: always a plain value
    }
    v5 = dict(
        map_one(
            attributes,
            scope_name="langfuse-sdk",
            scope_version="5.0.4",
            resource={"telemetry.sdk.language": "python"},
        ).metadata
    )
    assert (v5["count"], v5["name"], v5["raw"], v5["n"]) == ("1", '"acme"', '"not json"', '"1"')
    v3 = dict(map_one(attributes, scope_name="langfuse-sdk", scope_version="3.2.0").metadata)
    assert (v3["count"], v3["name"]) == ('"1"', '"\\"acme\\""')
    # Propagated attributes on third-party spans: the SDK headers tell.
    headers = IngestContext(project_id="p", sdk_name="python", sdk_version="5.0.4")
    third_party = dict(map_one(attributes, ctx=headers).metadata)
    assert third_party["count"] == "1"
