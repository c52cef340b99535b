"""A deleted trace stays deleted when a later span of it arrives (``DELETE
/api/public/traces/{traceId}``, docs/reference/langfuse.md §5): Langfuse merges later events onto
what ClickHouse holds, which is nothing after the deletion, so the trace comes back with the
new span's fields only. The writer's in-memory trace state (its LRU) must not bring the
deleted input, user and tags back (before the fix it did: the state cached before the deletion
was merged with the new span)."""

from __future__ import annotations

import os

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.support.otel import plain_export
from tests.support.service import Service


def _export(service: Service, trace_id: bytes, attributes: dict[str, str]) -> None:
    request = plain_export(trace_id, 1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.extend(
        KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attributes.items()
    )
    response = service.client.post(
        "/v1/traces",
        content=request.SerializeToString(),
        headers={"Authorization": service.authorization, "Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200, response.text


def test_a_span_after_the_deletion_does_not_bring_the_deleted_trace_back(service: Service) -> None:
    trace_id = os.urandom(16)
    hex_id = trace_id.hex()
    _export(
        service,
        trace_id,
        {
            "langfuse.trace.input": "secret input",
            "langfuse.user.id": "user-deleted",
            "langfuse.trace.tags": '["deleted-tag"]',
        },
    )
    before = service.get_json(f"/api/public/traces/{hex_id}")
    assert (before["input"], before["userId"], before["tags"]) == (
        "secret input",
        "user-deleted",
        ["deleted-tag"],
    )

    deleted = service.client.delete(
        f"/api/public/traces/{hex_id}", headers={"Authorization": service.authorization}
    )
    assert deleted.status_code == 200, deleted.text
    assert service.get(f"/api/public/traces/{hex_id}").status_code == 404

    _export(service, trace_id, {"langfuse.trace.name": "after the deletion"})
    after = service.get_json(f"/api/public/traces/{hex_id}")
    assert after["name"] == "after the deletion"
    assert (after["input"], after["userId"], after["tags"]) == (None, None, [])
    assert len(after["observations"]) == 1
