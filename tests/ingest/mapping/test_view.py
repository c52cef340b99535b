"""``view.index_keys``: prefix groups and presence bits of one attribute dict."""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.mapping import fields, trace_fields
from ingest.mapping.view import ALL_PRESENT, ResourceView, ScopeView, SpanView, index_keys


def test_index_keys_groups_keys_and_sets_the_bits_of_present_key_sets() -> None:
    attributes = {
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.tool.name": "search",  # an observation-name key
        "gen_ai.usage.output_tokens": 4,
        "user.id": "u1",  # a trace-field key
    }
    groups, present = index_keys(attributes)
    assert groups == {"gen_ai.usage.": ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"]}
    assert present & fields._NAME_BIT
    assert present & trace_fields._TRACE_BIT
    assert not present & fields._PROMPT_BIT
    assert index_keys({"gen_ai.tool.name": "x"}) == index_keys({"gen_ai.tool.name": "y"})
    assert index_keys({"unrelated": 1}) == ({}, 0)


def test_a_view_built_without_presence_bits_lets_every_rule_look() -> None:
    resource = ResourceView({}, "{}", {}, "default")
    scope = ScopeView("s", "", {}, False, "{}")
    view = SpanView(Span(name="span"), {"gen_ai.tool.name": "search"}, resource, scope, False)
    assert view.present == ALL_PRESENT
    assert view.may_have(fields._NAME_BIT)
    assert fields.observation_name(view) == "search"
