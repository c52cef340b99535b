"""Oversized fields through Kafka (scale-out: tansu, ``otelfuse receiver``, ``otelfuse
processor --query``) with the blobs in a real S3 server (SeaweedFS): a 20 MB input round-trips
exactly and deleting its trace deletes its blob; with S3 stopped the export answers 503 (gRPC:
UNAVAILABLE) and nothing is stored; once S3 is back the resend is stored once
(docs/architecture.md "Oversized fields")."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from storage.blobs.claim_check import trace_prefix
from tests.scaleout.conftest import Stack, start_stack, stop_stack
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
from tests.support.postgres import Postgres
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, SeaweedFS, start_seaweedfs


@dataclass
class S3Stack:
    s3: SeaweedFS
    stack: Stack


@pytest.fixture(scope="module")
def s3_stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: Postgres
) -> Iterator[S3Stack]:
    s3 = start_seaweedfs()
    bucket = f"fields-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(bucket)
    env = {
        "OTELFUSE_BLOB_BACKEND": "s3",
        "OTELFUSE_S3_ENDPOINT": s3.endpoint,
        "OTELFUSE_S3_BUCKET": bucket,
        "OTELFUSE_S3_REGION": REGION,
        "OTELFUSE_S3_ACCESS_KEY": ACCESS_KEY,
        "OTELFUSE_S3_SECRET_KEY": SECRET_KEY,
    }
    try:
        stack = start_stack(
            tmp_path_factory.mktemp("oversized"), postgres_server.create_database("oversized"), env
        )
    except BaseException:
        s3.stop()
        raise
    yield S3Stack(s3, stack)
    stop_stack(stack)
    s3.stop()


def _count(stack: Stack, trace_id: str) -> list[str]:
    response = stack.processor.client.get(
        "/api/public/observations",
        params={"traceId": trace_id},
        headers={"Authorization": stack.processor.authorization},
    )
    assert response.status_code == 200, response.text
    return sorted(o["name"] for o in response.json()["data"])


def test_twenty_mb_input_round_trips_through_kafka_and_s3(s3_stack: S3Stack) -> None:
    stack = s3_stack.stack
    value = payload(TWENTY_MB)
    trace_id = os.urandom(16)
    big = span(trace_id, "big", value)
    response = export(stack.receiver, big, span(trace_id, "small", "hello"))
    assert response.status_code == 200, response.text
    assert_reads_return(stack.processor, trace_id.hex(), big.span_id.hex(), value)
    bucket = stack.env["OTELFUSE_S3_BUCKET"]
    prefix = trace_prefix(stack.receiver.project_id, trace_id.hex())

    def stored() -> list[str]:
        found = s3_stack.s3.client().list_objects(bucket, prefix=prefix, recursive=True)
        return [str(o.object_name) for o in found]

    assert stored() == [prefix + sha(value)]
    deleted = stack.processor.client.delete(
        f"/api/public/traces/{trace_id.hex()}",
        headers={"Authorization": stack.processor.authorization},
    )
    assert deleted.status_code == 200, deleted.text
    assert stored() == []


def test_s3_down_answers_retryable_and_stores_nothing_until_the_resend(
    s3_stack: S3Stack,
) -> None:
    stack, s3 = s3_stack.stack, s3_stack.s3
    value = payload(2 * 1024 * 1024)
    trace_id = os.urandom(16)
    spans = (span(trace_id, "big-down", value), span(trace_id, "small-down", "hi"))
    s3.halt()
    try:
        response = export(stack.receiver, *spans)
        assert response.status_code == 503, response.text
        assert response.headers.get("Retry-After")
        with (
            grpc.insecure_channel(stack.receiver.grpc_target) as channel,
            pytest.raises(grpc.RpcError) as refused,
        ):
            TraceServiceStub(channel).Export(  # type: ignore[no-untyped-call]
                ExportTraceServiceRequest.FromString(export_body(*spans)),
                metadata=[("authorization", stack.receiver.authorization)],
                timeout=60,
            )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        s3.restart()
    time.sleep(2)  # what was published would have been written by now
    assert _count(stack, trace_id.hex()) == []
    response = export(stack.receiver, *spans)
    assert response.status_code == 200, response.text
    found = wait_observation(stack.processor, spans[0].span_id.hex())
    assert sha(found["input"]) == sha(value)
    wait_observation(stack.processor, spans[1].span_id.hex())
    assert _count(stack, trace_id.hex()) == ["big-down", "small-down"]
