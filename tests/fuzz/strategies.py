"""Hypothesis strategies for the fuzz tests: JSON values, OTLP messages that look like what
instrumentations send (the attribute keys the mapping reads, values of every kind), and
byte-level mutations of valid encodings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

__all__ = [
    "ATTRIBUTE_KEYS",
    "export_requests",
    "json_values",
    "mutated",
    "texts",
]

_MAPPING = Path(__file__).resolve().parents[2] / "ingest" / "mapping"
ATTRIBUTE_KEYS = sorted(
    {
        key
        for path in _MAPPING.glob("*.py")
        for key in re.findall(r'"([a-z_]+(?:\.[a-zA-Z0-9_]+)+)"', path.read_text())
    }
)
"""Every dotted attribute key the span mapping names (``gen_ai.usage.input_tokens``,
``langfuse.observation.type``, ...), read from its source so new keys are fuzzed too."""

texts = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", "null", "{}", "[]", '{"a": 1}', "[1, 2]", "1e400", "-0", "true", "NaN", "gpt-4o"]
)
"""Short strings, including JSON-looking ones (the mapping parses some attributes as JSON)."""

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
"""JSON-compatible values (what ``orjson.loads`` can return)."""


def _any_values() -> st.SearchStrategy[AnyValue]:
    leaves = st.one_of(
        texts.map(lambda s: AnyValue(string_value=s)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
        st.floats().map(lambda f: AnyValue(double_value=f)),
        st.binary(max_size=16).map(lambda b: AnyValue(bytes_value=b)),
        st.just(AnyValue()),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
            st.lists(st.tuples(texts, inner), max_size=3).map(
                lambda kvs: AnyValue(
                    kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs])
                )
            ),
        ),
        max_leaves=8,
    )


any_values = _any_values()
keys = st.sampled_from(ATTRIBUTE_KEYS) | texts
attributes = st.lists(
    st.builds(lambda k, v: KeyValue(key=k, value=v), keys, any_values), max_size=8
)
_ids16 = st.sampled_from([b"", bytes(16)]) | st.binary(min_size=16, max_size=16) | st.binary()
_ids8 = st.sampled_from([b"", bytes(8)]) | st.binary(min_size=8, max_size=8) | st.binary()
_times = st.sampled_from([0, 1, 1_763_770_000_000_000_000, 2**64 - 1]) | st.integers(0, 2**64 - 1)

spans = st.builds(
    Span,
    trace_id=_ids16,
    span_id=_ids8,
    parent_span_id=_ids8,
    name=texts,
    kind=st.integers(0, 5),
    start_time_unix_nano=_times,
    end_time_unix_nano=_times,
    attributes=attributes,
    status=st.builds(Status, code=st.integers(0, 2), message=texts),
    events=st.lists(
        st.builds(Span.Event, name=texts, time_unix_nano=_times, attributes=attributes),
        max_size=2,
    ),
)
export_requests = st.builds(
    lambda groups: ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=resource),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name=name, version=version), spans=span_list
                    )
                ],
            )
            for resource, name, version, span_list in groups
        ]
    ),
    st.lists(
        st.tuples(
            attributes,
            st.sampled_from(["langfuse-sdk", "openinference", "ai", ""]) | texts,
            texts,
            st.lists(spans, max_size=3),
        ),
        max_size=2,
    ),
)
"""OTLP trace export requests with realistic and hostile attributes, ids and times."""


@st.composite
def mutated(draw: st.DrawFn, encoded: bytes) -> bytes:
    """``encoded`` with a few bytes replaced, inserted or deleted."""
    data = bytearray(encoded)
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.integers(0, 255))
        if action == "insert" or not data:
            data.insert(position, byte)
        elif action == "replace":
            data[min(position, len(data) - 1)] = byte
        else:
            del data[min(position, len(data) - 1)]
    return bytes(data)


def replace_leaf(document: Any, path: list[int], value: Any) -> Any:
    """``document`` with the leaf reached by walking ``path`` (indices modulo each container's
    size) replaced by ``value``."""
    if not path or not isinstance(document, dict | list) or not document:
        return value
    if isinstance(document, dict):
        key = sorted(document)[path[0] % len(document)]
        return {**document, key: replace_leaf(document[key], path[1:], value)}
    index = path[0] % len(document)
    return [
        *document[:index],
        replace_leaf(document[index], path[1:], value),
        *document[index + 1 :],
    ]
