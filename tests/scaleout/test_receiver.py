"""The receiver role against a real Kafka-API broker (tansu): records on the partition of their
trace id (Kafka's default partitioner), acknowledged before success, oversize fields offloaded
to the blob store (oversize scores refused explicitly), broker outages answered with retryable
errors."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from ingest.kafka import observation_key, partitioner, score_key
from processors.kafka.config import DEFAULT_OBSERVATIONS_TOPIC, DEFAULT_SCORES_TOPIC
from storage.archive import ArchiveConfig
from storage.blobs.claim_check import parse_reference
from storage.records import decode_observation_batch, decode_score_batch
from tests.support.kafka import Broker, start_broker
from tests.support.postgres import Postgres, migrate_with_project
from tests.support.service import Service, start_service

TOPIC, SCORES_TOPIC = DEFAULT_OBSERVATIONS_TOPIC, DEFAULT_SCORES_TOPIC
MAX_MESSAGE = 200_000
PROJECT = ("proj-receiver", "pk-lf-receiver", "sk-lf-receiver-secret")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = start_broker(tmp_path_factory.mktemp("tansu"))
    broker.create_topics(TOPIC, SCORES_TOPIC, ArchiveConfig().raw_topic, partitions=4)
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def receiver(
    broker: Broker, postgres_server: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    url = postgres_server.create_database("receiver")
    migrate_with_project(url, PROJECT)
    project_id, public_key, secret_key = PROJECT
    svc = start_service(
        tmp_path_factory.mktemp("receiver"),
        {
            "OTELFUSE_POSTGRES_URL": url,
            "OTELFUSE_INIT_PROJECT_ID": project_id,
            "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
            "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
            "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "OTELFUSE_KAFKA_MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
            "OTELFUSE_KAFKA_DELIVERY_TIMEOUT_MS": "3000",
        },
        role=("receiver",),
    )
    yield svc
    assert svc.stop() == 0, svc.log()


def _span(trace_id: bytes, name: str, payload: int = 0) -> Span:
    attributes = [KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o"))]
    if payload:
        attributes.append(KeyValue(key="input.value", value=AnyValue(string_value="x" * payload)))
    return Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        name=name,
        start_time_unix_nano=1_763_770_000_000_000_000,
        end_time_unix_nano=1_763_770_001_000_000_000,
        attributes=attributes,
    )


def _export(svc: Service, *spans: Span) -> httpx.Response:
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])]
    ).SerializeToString()
    return svc.client.post(
        "/v1/traces",
        content=body,
        headers={"Authorization": svc.authorization, "Content-Type": "application/x-protobuf"},
    )


def _read_topic(bootstrap: str, topic: str = TOPIC) -> list[tuple[int, bytes, list[Any]]]:
    """(partition, key, records) of every message, read with manual assignment."""
    decode = decode_score_batch if topic == SCORES_TOPIC else decode_observation_batch

    async def read() -> list[tuple[int, bytes, list[Any]]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(4)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            found: list[tuple[int, bytes, list[Any]]] = []
            idle = 0
            while idle < 3:
                batch = await consumer.getmany(timeout_ms=300)
                idle = 0 if batch else idle + 1
                for tp, messages in batch.items():
                    for m in messages:
                        found.append((tp.partition, m.key or b"", decode(m.value)))
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _by_key(
    topic: str, bootstrap: str, key_of: Any = observation_key
) -> dict[str, list[tuple[int, Any]]]:
    """Partition key → (partition, record) of every record on ``topic``, checking on the way
    that each message went to the partition of the key of every record in it."""
    partition_of = partitioner(4)
    found: dict[str, list[tuple[int, Any]]] = {}
    for partition, key, records in _read_topic(bootstrap, topic):
        assert key == key_of(records[0]).encode()  # a message is keyed by its first record
        for record in records:
            assert partition == partition_of(key_of(record).encode())
            found.setdefault(key_of(record), []).append((partition, record))
    return found


def test_records_reach_kafka_on_the_partition_of_their_trace(
    receiver: Service, broker: Broker
) -> None:
    trace_a, trace_b = os.urandom(16), os.urandom(16)
    response = _export(receiver, _span(trace_a, "a1"), _span(trace_b, "b1"), _span(trace_a, "a2"))
    assert response.status_code == 200, response.text
    assert (
        ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == 0
    )

    found = _by_key(TOPIC, broker.bootstrap)
    assert [r.name for _, r in found[trace_a.hex()]] == ["a1", "a2"]  # in request order
    assert [r.name for _, r in found[trace_b.hex()]] == ["b1"]


def test_an_observation_over_the_message_limit_is_published_with_a_reference(
    receiver: Service, broker: Broker
) -> None:
    """The claim check (storage.blobs.claim_check): the input goes to the blob store first,
    the Kafka record carries its reference and preview, nothing is refused."""
    trace = os.urandom(16)
    response = _export(receiver, _span(trace, "fits"), _span(trace, "huge", MAX_MESSAGE + 1))
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 0, partial.error_message
    inputs = {r.name: r.input for _, r in _by_key(TOPIC, broker.bootstrap)[trace.hex()]}
    reference = parse_reference(inputs["huge"])
    assert reference is not None and reference.size == MAX_MESSAGE + 1
    assert inputs["huge"].endswith("x" * 1024) and len(inputs["huge"]) < 2048
    blob = receiver.data_dir / "blobs" / PROJECT[0] / reference.key
    assert blob.read_bytes() == b"x" * (MAX_MESSAGE + 1)


def _post(svc: Service, path: str, body: object) -> httpx.Response:
    return svc.client.post(path, json=body, headers={"Authorization": svc.authorization})


def _event(event_type: str, body: dict[str, object]) -> dict[str, Any]:
    return {
        "id": f"event-{body['id']}",
        "timestamp": "2025-11-22T10:00:00Z",
        "type": event_type,
        "body": body,
    }


def test_scores_reach_the_scores_topic_keyed_by_trace(receiver: Service, broker: Broker) -> None:
    trace = os.urandom(16).hex()
    scores = [
        {"traceId": trace, "name": "kafka-a", "value": 1},
        {"sessionId": f"session-{trace}", "name": "kafka-b", "value": "good"},
        {"traceId": trace, "name": "kafka-c", "value": True},
    ]
    assert _post(receiver, "/api/public/scores", scores).status_code == 202
    by_key = _by_key(SCORES_TOPIC, broker.bootstrap, score_key)
    assert sorted(r.name for _, r in by_key[trace]) == ["kafka-a", "kafka-c"]
    assert [r.name for _, r in by_key[f"session-{trace}"]] == ["kafka-b"]


def test_a_score_over_the_message_limit_is_refused_with_its_reason(receiver: Service) -> None:
    trace = os.urandom(16).hex()
    huge = {"traceId": trace, "name": "huge", "value": 1, "comment": "x" * (MAX_MESSAGE + 1)}
    single = _post(receiver, "/api/public/scores", huge)
    assert single.status_code == 413
    assert f"{MAX_MESSAGE}-byte Kafka message limit" in single.json()["message"]
    array = _post(
        receiver,
        "/api/public/scores",
        [{"traceId": trace, "name": "fits", "value": 1}, huge, {"traceId": trace, "value": 1}],
    )
    assert array.status_code == 207
    body = array.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    assert [e["index"] for e in body["errors"]] == [1, 2]
    assert "Kafka message limit" in body["errors"][0]["message"]


def test_ingestion_events_over_the_message_limit_get_413(receiver: Service, broker: Broker) -> None:
    """A large input is offloaded (storage.blobs.claim_check); only an event whose many small
    fields cannot be offloaded and still exceed the message is refused."""
    trace = os.urandom(16).hex()
    many_small = {f"k{i}": "m" * 3000 for i in range(100)}  # each below an offloadable size
    events = [
        _event("trace-create", {"id": trace, "name": "ingested-trace"}),
        _event("span-create", {"id": f"span-{trace}", "traceId": trace, "name": "ingested-span"}),
        _event(
            "generation-create",
            {"id": f"gen-{trace}", "traceId": trace, "input": "x" * (MAX_MESSAGE + 1)},
        ),
        _event("score-create", {"id": f"score-{trace}", "traceId": trace, "name": "s", "value": 1}),
        _event("span-create", {"id": f"wide-{trace}", "traceId": trace, "metadata": many_small}),
    ]
    response = _post(receiver, "/api/public/ingestion", {"batch": events})
    assert response.status_code == 207
    body = response.json()
    assert sorted(s["id"] for s in body["successes"]) == sorted(e["id"] for e in events[:4])
    [error] = body["errors"]
    assert (error["id"], error["status"]) == (events[4]["id"], 413)
    assert f"{MAX_MESSAGE}-byte Kafka message limit" in error["message"]
    observations = [r.name for _, r in _by_key(TOPIC, broker.bootstrap)[trace]]
    # the trace record's name is trace.name, the generation has none
    assert sorted(observations) == ["", "", "ingested-span"]
    assert trace in _by_key(SCORES_TOPIC, broker.bootstrap, score_key)


def test_broker_down_gives_503_then_recovers(receiver: Service, broker: Broker) -> None:
    broker.stop()
    try:
        response = _export(receiver, _span(os.urandom(16), "while-down"))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        score = {"traceId": os.urandom(16).hex(), "name": "while-down", "value": 1}
        for path, body in (
            ("/api/public/scores", score),
            ("/api/public/scores", [score]),
            ("/api/public/ingestion", {"batch": [_event("score-create", {"id": "d", **score})]}),
        ):
            answer = _post(receiver, path, body)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["retry-after"] == "1"
    finally:
        broker.start()
    for _ in range(50):  # the producer reconnects on its own
        response = _export(receiver, _span(os.urandom(16), "after-restart"))
        if response.status_code == 200:
            break
    assert response.status_code == 200, response.content
