"""Request-level mapping: id validation, per-span isolation, times, identity fields."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ingest.mapping import IngestContext, MappingResult
from ingest.mapping.context import MAX_ERRORS
from storage.records import ObservationRecord
from tests.ingest.mapping.spans import (
    END_NS,
    NOW_US,
    PARENT_ID,
    SPAN_ID,
    START_NS,
    TRACE_ID,
    make_request,
    make_span,
    map_one,
    map_request,
)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"trace_id": b"\x01\x02\x03"}, "invalid trace_id (3 bytes, want 16)"),
        ({"trace_id": b""}, "missing or malformed trace_id"),
        ({"trace_id": bytes(16)}, "invalid trace_id (all zero)"),
        ({"span_id": b"\x01" * 9}, "invalid span_id (9 bytes, want 8)"),
        ({"span_id": b""}, "missing or malformed span_id"),
        ({"span_id": bytes(8)}, "invalid span_id (all zero)"),
        ({"parent_span_id": b"\x01" * 4}, "invalid parent_span_id (4 bytes, want 0 or 8)"),
    ],
)
def test_invalid_ids_reject_only_that_span(kwargs: dict[str, Any], reason: str) -> None:
    request = make_request(
        make_span(name="ok-1", span_id=b"\x01" * 8),
        make_span(name="chat gpt-4o", **kwargs),
        make_span(name="ok-2", span_id=b"\x02" * 8),
    )
    result = map_request(request)
    assert [record.name for record in result.records] == ["ok-1", "ok-2"]
    assert result.rejected_spans == 1
    assert len(result.errors) == 1
    assert result.errors[0].startswith(f'span 1 "chat gpt-4o": {reason}')


def test_errors_are_capped_but_all_rejections_counted() -> None:
    spans = [make_span(name=f"bad-{i}", trace_id=b"") for i in range(MAX_ERRORS + 5)]
    result = map_request(make_request(*spans))
    assert result.rejected_spans == MAX_ERRORS + 5
    assert len(result.errors) == MAX_ERRORS
    assert result.errors[-1].startswith(f'span {MAX_ERRORS - 1} "bad-{MAX_ERRORS - 1}"')


def test_span_index_runs_across_resources_and_scopes() -> None:
    request = ExportTraceServiceRequest()
    for _ in range(2):
        part = make_request(make_span(name="good"), make_span(name="bad", span_id=b""))
        request.resource_spans.extend(part.resource_spans)
    result = map_request(request)
    assert result.errors == [
        'span 1 "bad": missing or malformed span_id (want 8 bytes, 16 hex characters in JSON)',
        'span 3 "bad": missing or malformed span_id (want 8 bytes, 16 hex characters in JSON)',
    ]


def test_an_exception_while_mapping_rejects_only_that_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The record class is patched, not a mapping function: calls between the compiled mapping
    # modules are bound at compile time (ingest/mapping/native.py), while a name they import from
    # an interpreted module (storage.records) is looked up when called. ``span.map_span`` starts
    # each record with ``ObservationRecord.FromString``: the second span's (``boom``) fails.
    class ExplodingRecord:
        def __init__(self) -> None:
            self.parsed = 0

        def __call__(self, **values: Any) -> ObservationRecord:
            return ObservationRecord(**values)

        def FromString(self, data: bytes) -> ObservationRecord:
            self.parsed += 1
            if self.parsed == 2:
                raise KeyError("surprise")
            return ObservationRecord.FromString(data)

    monkeypatch.setattr("ingest.mapping.span.ObservationRecord", ExplodingRecord())
    request = make_request(make_span(name="fine"), make_span(name="boom", span_id=b"\x05" * 8))
    result = map_request(request)
    assert [record.name for record in result.records] == ["fine"]
    assert result.rejected_spans == 1
    assert result.errors == ["span 1 \"boom\": mapping failed: KeyError: 'surprise'"]


def test_long_names_are_shortened_in_reasons() -> None:
    result = map_request(make_request(make_span(name="n" * 500, trace_id=b"")))
    assert len(result.errors[0]) < 250


def test_identity_times_and_instrumentation() -> None:
    resource = {
        "service.name": "svc",
        "service.version": "1.2",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.38.0",
    }
    ctx = IngestContext(project_id="proj-9", sdk_name="python", sdk_version="5.0.4")
    record = map_one(
        {}, resource=resource, ctx=ctx, parent_span_id=PARENT_ID, scope_name="sc", scope_version="3"
    )
    assert record.project_id == "proj-9"
    assert record.id == SPAN_ID.hex() and record.trace_id == TRACE_ID.hex()
    assert record.parent_observation_id == PARENT_ID.hex()
    assert record.start_time_us == START_NS // 1000 == 1_763_802_000_123_456
    assert record.end_time_us == END_NS // 1000
    assert (record.scope_name, record.scope_version) == ("sc", "3")
    assert (record.service_name, record.service_version) == ("svc", "1.2")
    assert (
        record.telemetry_sdk_language,
        record.telemetry_sdk_name,
        record.telemetry_sdk_version,
    ) == ("python", "opentelemetry", "1.38.0")
    assert (record.ingestion_sdk_name, record.ingestion_sdk_version) == ("python", "5.0.4")


def test_enrichment_fields_are_left_empty() -> None:
    record = map_one(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.cost": 0.1,
            "langfuse.observation.prompt.name": "p",
            "langfuse.observation.prompt.version": 1,
        }
    )
    assert dict(record.usage_details) == {} and dict(record.cost_details) == {}
    for field in ("total_cost", "internal_model_id", "usage_pricing_tier_id", "prompt_id"):
        assert not record.HasField(field)
    assert not record.usage_estimated


@pytest.mark.parametrize(
    ("start_ns", "end_ns", "expected"),
    [
        (START_NS, 0, (START_NS // 1000, START_NS // 1000)),
        (0, END_NS, (END_NS // 1000, END_NS // 1000)),
        (0, 0, (NOW_US, NOW_US)),
        # integer division keeps microseconds
        (
            1_763_802_000_000_001_999,
            1_763_802_000_000_002_999,
            (1_763_802_000_000_001, 1_763_802_000_000_002),
        ),
    ],
)
def test_missing_timestamps(start_ns: int, end_ns: int, expected: tuple[int, int]) -> None:
    record = map_one({}, start_ns=start_ns, end_ns=end_ns)
    assert (record.start_time_us, record.end_time_us) == expected


def test_empty_request_and_default_clock() -> None:
    from ingest.mapping import map_export_request

    assert map_export_request(ExportTraceServiceRequest(), IngestContext("p")) == MappingResult(
        records=[], rejected_spans=0, errors=[]
    )
    result = map_export_request(make_request(make_span(start_ns=0, end_ns=0)), IngestContext("p"))
    record: ObservationRecord = result.records[0]
    assert record.start_time_us > 1_700_000_000_000_000


def test_an_end_before_the_start_becomes_the_start() -> None:
    """Langfuse sets an observation's ``end_time`` before its ``start_time`` to the start time
    (``worker/src/services/IngestionService/index.ts``, ``mergeObservationRecords``), so no
    latency is negative; OTLP spans did not get that rule (issue 15, negative latency)."""
    record = map_one({}, start_ns=END_NS, end_ns=START_NS)
    assert record.start_time_us == END_NS // 1000
    assert record.end_time_us == END_NS // 1000
