"""Oversized fields end to end in all-in-one (``otelfuse run``, local blob store): a 20 MB
input over OTLP/HTTP, OTLP/gRPC and ``/api/public/ingestion``, and a large GenAI log record,
are accepted, kept in the blob store (the row holds a reference and a preview) and returned
exactly by every read endpoint; deleting the trace deletes its blobs (docs/architecture.md
"Oversized fields")."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from storage.blobs.claim_check import trace_prefix
from tests.ingest.mapping.logs import make_log, make_logs_request
from tests.support.oversized import (
    TWENTY_MB,
    assert_reads_return,
    export,
    export_body,
    payload,
    sha,
    span,
    wait_observation,
)
from tests.support.service import Service, metric_total

OFFLOADED_BYTES = "otelfuse_receiver_offloaded_bytes_total"
OFFLOADED_FIELDS = "otelfuse_receiver_offloaded_fields_total"


def _blob_files(service: Service, trace_id: str) -> list[Path]:
    folder = service.data_dir / "blobs" / trace_prefix(service.project_id, trace_id)
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_twenty_mb_input_over_http_round_trips_and_deletion_removes_the_blob(
    service: Service,
) -> None:
    before = service.client.get("/metrics").text
    bytes_before = metric_total(before, OFFLOADED_BYTES)
    fields_before = metric_total(before, OFFLOADED_FIELDS)
    value = payload(TWENTY_MB)
    trace_id = os.urandom(16)
    big = span(trace_id, "big", value)
    response = export(service, big, span(trace_id, "small", "hello"))
    assert response.status_code == 200, response.text
    assert_reads_return(service, trace_id.hex(), big.span_id.hex(), value)
    blobs = _blob_files(service, trace_id.hex())
    assert [p.name for p in blobs] == [sha(value)]
    metrics = service.metrics_when(OFFLOADED_BYTES, bytes_before + TWENTY_MB)
    assert metric_total(metrics, OFFLOADED_FIELDS) >= fields_before + 1
    deleted = service.client.delete(
        f"/api/public/traces/{trace_id.hex()}", headers={"Authorization": service.authorization}
    )
    assert deleted.status_code == 200
    assert _blob_files(service, trace_id.hex()) == []


def test_twenty_mb_input_over_grpc(service: Service) -> None:
    value = payload(TWENTY_MB)
    trace_id = os.urandom(16)
    big = span(trace_id, "big-grpc", value)
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(service.grpc_target, options=options) as channel:
        TraceServiceStub(channel).Export(  # type: ignore[no-untyped-call]
            ExportTraceServiceRequest.FromString(export_body(big)),
            metadata=[("authorization", service.authorization)],
            timeout=120,
        )
    assert sha(wait_observation(service, big.span_id.hex())["input"]) == sha(value)


def test_twenty_mb_input_through_the_ingestion_api(service: Service) -> None:
    value = payload(TWENTY_MB)
    trace_id, observation_id = uuid.uuid4().hex, uuid.uuid4().hex
    batch = {
        "batch": [
            {
                "id": uuid.uuid4().hex,
                "timestamp": "2025-11-22T10:00:00Z",
                "type": "generation-create",
                "body": {
                    "id": observation_id,
                    "traceId": trace_id,
                    "name": "big-ingestion",
                    "startTime": "2025-11-22T10:00:00Z",
                    "input": value,
                    "metadata": {"note": "small", "doc": value[:400_000]},
                },
            }
        ]
    }
    response = service.client.post(
        "/api/public/ingestion",
        json=batch,
        headers={"Authorization": service.authorization},
        timeout=120,
    )
    assert response.status_code == 207, response.text
    assert response.json()["errors"] == []
    found = wait_observation(service, observation_id)
    assert sha(found["input"]) == sha(value)
    assert found["metadata"]["note"] == "small"
    assert sha(found["metadata"]["doc"]) == sha(value[:400_000])


def test_large_genai_log_content_is_offloaded_and_meets_its_span(service: Service) -> None:
    """A GenAI log record carrying a 3 MB message (OTLP logs over HTTP) goes through the
    same claim check; the span it names returns the full content."""
    trace_id, span_id = os.urandom(16), os.urandom(8)
    question = payload(3 * 1024 * 1024)
    request = make_logs_request(
        make_log(
            "gen_ai.user.message",
            body={"content": question},
            attributes={"gen_ai.system": "openai"},
            trace_id=trace_id,
            span_id=span_id,
        )
    )
    logged = service.client.post(
        "/v1/logs",
        content=request.SerializeToString(),
        headers={"Authorization": service.authorization, "Content-Type": "application/x-protobuf"},
        timeout=120,
    )
    assert logged.status_code == 200, logged.text
    assert not ExportLogsServiceResponse.FromString(logged.content).HasField("partial_success")
    chat = span(trace_id, "chat gpt-4o")
    chat.span_id = span_id
    assert export(service, chat).status_code == 200
    found = wait_observation(service, span_id.hex())
    assert json.dumps(found["input"]).count(question) == 1, str(found["input"])[:300]
