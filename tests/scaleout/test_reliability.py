"""Reliability of the scale-out pipeline, on the local stack with each role its own process.

Every test asserts docs/architecture.md "Guarantees and how they are met" end to end: every span a
real OTLP exporter reported as exported (``SpanExportResult.SUCCESS``) is queryable exactly once
afterwards (``meta.totalItems`` per trace, each span id once), whatever broke in between:

1. poison: garbage (and an empty value) produced straight to the observations topic is parked in
   the dead-letter topic with the error headers; traces around it flow on;
2. ClickHouse refuses inserts for a while (the table is made read-only from inside the processor,
   ``tests/clients/processor_harness.py``): the processor backs off without committing, then
   writes everything once; the same when ClickHouse refuses inserts for lack of disk space
   (NOT_ENOUGH_SPACE), also when only the traces table does (chdb's streaming insert used to
   report success for such rows; every insert now goes through an INSERT query, which raises);
3. the broker is killed while clients export: receivers answer 503 / UNAVAILABLE, the exporters
   retry, and after the broker's restart everything acknowledged is there once;
4. the processor's consumer ends while its query API runs (``processor --query``): health
   answers 503 ``consumer stopped``, so Kubernetes restarts it, and reads go on;
5. the processor is SIGKILLed mid-stream (right after writing a batch whose offsets it never
   committed) and restarted on the same data folder and group: the redelivery duplicates nothing.

The broker stores its log in S3 (moto): tansu's memory storage would lose *acknowledged* messages
on a restart, a broker durability limit and not something otelfuse can make up for (with acks=all
the receiver's guarantee ends at the broker's acknowledgement). The tests share one stack (module
fixture, run in file order) to stay within the time budget; each uses its own span name. Consumer
group timings are the production defaults (``app.processor.Processor`` does not expose session or
heartbeat timeouts): a restarted processor waits for the killed member's 10 s session to expire.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import warnings
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from storage.records import KAFKA_CONTENT_TYPE
from tests.scaleout.conftest import DLQ, GROUP, PARTITIONS, TOPIC, DurableStack
from tests.scaleout.load import (
    Exported,
    ExportLoad,
    TraceMaker,
    count_named,
    export_trace,
    exporter_for,
    metric,
    until,
    verify_exactly_once,
)
from tests.support.kafka import committed_offsets, read_topic

pytestmark = pytest.mark.slow


def _export_sync(stack: DurableStack, name: str, count: int) -> list[Exported]:
    """Export ``count`` traces one by one over OTLP/HTTP; all must succeed."""
    maker = TraceMaker(name)
    exporter = exporter_for(stack.receiver, "http", timeout_s=30)
    try:
        results = [export_trace(exporter, maker.trace(), "http") for _ in range(count)]
    finally:
        exporter.shutdown()
    assert all(r.success for r in results)
    return results


def _committed(stack: DurableStack) -> dict[int, int]:
    return committed_offsets(stack.broker.bootstrap, GROUP, TOPIC, PARTITIONS)


def _settled_offsets(stack: DurableStack, timeout: float = 30) -> dict[int, int]:
    """The group's committed offsets once two reads in a row agree."""
    last: list[dict[int, int]] = [_committed(stack)]

    def settled() -> bool:
        last.append(_committed(stack))
        return last[-1] == last[-2]

    until(settled, "committed offsets to settle", timeout)
    return last[-1]


# ---- 1. poison ---------------------------------------------------------------------------------


def test_poison_records_are_dead_lettered_and_the_rest_flows(durable_stack: DurableStack) -> None:
    stack, name = durable_stack, "rel-poison"
    before = _export_sync(stack, name, 5)
    garbage = b"\xff\xfe not an ObservationBatch " + os.urandom(8)

    async def produce() -> list[tuple[bytes, bytes, int, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=stack.broker.bootstrap, acks="all")
        await producer.start()
        try:
            sent = []
            # garbage in every partition, so it sits between traces whatever their partition
            for partition, key, value in [
                *((p, b"poison-garbage", garbage) for p in range(PARTITIONS)),
                (0, b"poison-empty", b""),  # parses as an empty ObservationBatch
            ]:
                meta = await producer.send_and_wait(
                    TOPIC,
                    value,
                    key=key,
                    partition=partition,
                    headers=[("content-type", KAFKA_CONTENT_TYPE.encode())],
                )
                sent.append((key, value, meta.partition, meta.offset))
            return sent
        finally:
            await producer.stop()

    poison = asyncio.run(produce())
    after = _export_sync(stack, name, 5)

    verify_exactly_once(stack.query, name, before + after)

    by_source: dict[tuple[int, int], tuple[Any, dict[str, str]]] = {}

    def all_parked() -> bool:
        # keyed by source: a retried dead-letter write may leave a duplicate letter
        for letter in read_topic(stack.broker.bootstrap, DLQ, PARTITIONS, idle_polls=1):
            headers = {k: v.decode() for k, v in letter.headers}
            source = (
                int(headers["otelfuse-source-partition"]),
                int(headers["otelfuse-source-offset"]),
            )
            by_source[source] = (letter, headers)
        return len(by_source) >= len(poison)

    until(all_parked, "the poison records in the dead-letter topic", 30)
    assert len(by_source) == len(poison), by_source.keys()
    for key, value, partition, offset in poison:
        letter, headers = by_source[(partition, offset)]
        assert letter.key == key and letter.value == value
        assert headers["otelfuse-source-topic"] == TOPIC
        assert headers["otelfuse-error-class"] == "storage.errors.PermanentError"
        expected = "without observations" if value == b"" else "undecodable ObservationBatch"
        assert expected in headers["otelfuse-error"], headers
        assert headers["content-type"] == KAFKA_CONTENT_TYPE  # original headers kept
    dead = metric(stack.query, "otelfuse_processor_dead_lettered_records_total", reason="decode")
    assert dead >= len(poison)


# ---- 2. ClickHouse outage ----------------------------------------------------------------------


def test_clickhouse_outage_backs_off_without_committing(durable_stack: DurableStack) -> None:
    stack, name = durable_stack, "rel-clickhouse"
    warm = _export_sync(stack, f"{name}-before", 3)
    verify_exactly_once(stack.query, f"{name}-before", warm)
    _settled_offsets(stack)
    dead_total = "otelfuse_processor_dead_lettered_records_total"
    dead = metric(stack.query, dead_total, reason="process")

    stack.processor.command("fail-inserts")
    try:
        offsets = _committed(stack)
        retries = metric(stack.query, "otelfuse_processor_retries_total")
        during = _export_sync(stack, name, 10)  # Kafka is fine: exports succeed
        # the processor read them, failed to write and backed off, at least twice
        until(
            lambda: metric(stack.query, "otelfuse_processor_retries_total") >= retries + 2,
            "the processor to retry the failing batch",
            30,
        )
        assert count_named(stack.query, name) == 0, "written although inserts fail"
        assert _committed(stack) == offsets, "offsets committed during the outage"
    finally:
        stack.processor.command("restore-inserts")

    waited = verify_exactly_once(stack.query, name, during)
    print(f"ClickHouse outage: {len(during)} traces queryable once {waited:.1f} s after recovery")
    # retried, never dead-lettered: the read-only error (ClickHouse code 774) is retryable
    assert metric(stack.query, dead_total, reason="process") == dead
    assert "ClickHouse error 774" in stack.query.log()
    moved = _settled_offsets(stack)
    assert sum(moved.values()) > sum(offsets.values()), (offsets, moved)


@pytest.mark.parametrize(
    "tables",
    [
        pytest.param("observations,traces", id="full-disk"),
        pytest.param("traces", id="traces-disk"),
    ],
)
def test_an_insert_refused_for_disk_space_is_retried_not_committed(
    durable_stack: DurableStack, tables: str
) -> None:
    stack, name = durable_stack, f"rel-disk-{tables.replace(',', '-')}"
    offsets = _settled_offsets(stack)
    retries = metric(stack.query, "otelfuse_processor_retries_total")
    stack.processor.command(f"refuse-disk-space {tables}")
    try:
        during = _export_sync(stack, name, 3)
        # whichever comes first: a retry (right) or a commit of the refused batch (data loss)
        until(
            lambda: (
                metric(stack.query, "otelfuse_processor_retries_total") > retries
                or _committed(stack) != offsets
            ),
            "the processor to retry or commit",
            30,
        )
        assert _committed(stack) == offsets, "offsets committed for rows ClickHouse refused"
    finally:
        stack.processor.command(f"restore-disk-space {tables}")
    verify_exactly_once(stack.query, name, during)
    assert "ClickHouse error 243" in stack.query.log()


# ---- 3. broker outage --------------------------------------------------------------------------


def _raw_request() -> ExportTraceServiceRequest:
    span = Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name="rel-broker-raw",
        start_time_unix_nano=time.time_ns(),
        end_time_unix_nano=time.time_ns(),
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )


def _assert_retryable_answers(stack: DurableStack) -> None:
    """While the broker is down both receivers answer retryable errors."""
    response = httpx.post(
        f"{stack.receiver.http_url}/v1/traces",
        content=_raw_request().SerializeToString(),
        headers={
            "Authorization": stack.receiver.authorization,
            "Content-Type": "application/x-protobuf",
        },
        timeout=30,
    )
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers.get("retry-after"), response.headers
    with grpc.insecure_channel(stack.receiver.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as failure:
            TraceServiceStub(channel).Export(  # type: ignore[no-untyped-call]
                _raw_request(),
                metadata=[("authorization", stack.receiver.authorization)],
                timeout=30,
            )
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def test_broker_outage_loses_nothing_acknowledged(durable_stack: DurableStack) -> None:
    """SIGKILL the broker under load and start it again.

    ClickHouse is made read-only shortly before, so the processor can neither write nor commit:
    what the broker acknowledged in that window exists only in the broker when it dies, and has
    to be read from the restarted broker. (With tansu's memory storage that part is lost: a
    broker durability limit, which is why this stack stores the log in S3.)
    """
    stack, name = durable_stack, "rel-broker"
    load = ExportLoad(stack.receiver, name, clients=4, exporter_timeout_s=40).start()
    refused_total = "otelfuse_receiver_refused_spans_total"
    try:
        load.wait_for(lambda: load.count() >= 10, "exports before the outage")
        stack.processor.command("fail-inserts")
        try:
            acked = load.count()
            load.wait_for(lambda: load.count() >= acked + 10, "exports only the broker holds")
            refused = metric(stack.receiver, refused_total, reason="storage")
            stack.broker.stop(signal.SIGKILL)
            try:
                _assert_retryable_answers(stack)
                # an exporter whose retries end before the broker is back reports FAILURE
                impatient = exporter_for(stack.receiver, "http", timeout_s=1.5)
                doomed = export_trace(impatient, TraceMaker(name).trace(), "http")
                impatient.shutdown()
                assert not doomed.success
                # the load's exporters ran into the outage too (and are retrying)
                until(
                    lambda: metric(stack.receiver, refused_total, reason="storage") >= refused + 12,
                    "exports refused while the broker is down",
                    30,
                )
            finally:
                stack.broker.start()
        finally:
            stack.processor.command("restore-inserts")
        resumed = load.count()
        load.wait_for(lambda: load.count() >= resumed + 20, "exports after the restart")
    finally:
        results = load.stop()

    failed = [r for r in results if not r.success]
    if failed:
        warnings.warn(
            f"{len(failed)} of {len(results)} exports reported FAILURE during the broker outage "
            "(their exporter's retries ran out); resent below",
            stacklevel=1,
        )
    resent = [_resend(stack, r) for r in [doomed, *failed]]
    assert all(r.success for r in resent)
    acknowledged = [r for r in results if r.success]
    # exports caught by the outage were retried (Retry-After: 1 s) and then succeeded
    slowest = max(r.seconds for r in acknowledged)
    assert slowest > 1, slowest
    waited = verify_exactly_once(stack.query, name, acknowledged + resent)
    print(
        f"broker outage: {len(acknowledged)} traces acknowledged ({slowest:.1f} s the slowest, "
        f"retries included), {len(failed)} + 1 reported FAILURE and resent; all queryable once "
        f"{waited:.1f} s after the load stopped"
    )


def _resend(stack: DurableStack, exported: Exported) -> Exported:
    exporter = exporter_for(stack.receiver, "http", timeout_s=30)
    try:
        return export_trace(exporter, exported.spans, "http")
    finally:
        exporter.shutdown()


# ---- 4. processor health -----------------------------------------------------------------------


def test_health_follows_the_consumer_with_the_query_api(durable_stack: DurableStack) -> None:
    """``processor --query`` answers health for its consumer, not only for the query API, so
    Kubernetes restarts a processor whose consumer ended while reads still work."""
    stack = durable_stack
    health = stack.query.client.get("/api/public/health")
    assert health.status_code == 200 and health.json()["status"] == "OK"
    stack.processor.command("stop-consumer")
    try:
        health = stack.query.client.get("/api/public/health")
        assert health.status_code == 503 and health.json()["status"] == "consumer stopped"
        assert stack.query.get("/api/public/traces").status_code == 200  # reads still work
    finally:
        stack.processor.kill()
        stack.restart_processor()
    assert stack.query.client.get("/api/public/health").status_code == 200


# ---- 5. processor crash ------------------------------------------------------------------------


def test_processor_sigkill_and_restart_duplicates_nothing(durable_stack: DurableStack) -> None:
    stack, name = durable_stack, "rel-sigkill"
    load = ExportLoad(stack.receiver, name, clients=4).start()
    visible: Callable[[], bool] = lambda: count_named(stack.query, name) > 0  # noqa: E731
    try:
        load.wait_for(visible, "the processor to write the first traces")
        # a batch is now written to ClickHouse and its offsets will never be committed
        held = {int(p): o for p, o in stack.processor.command("hold-commits").items()}
        stack.processor.kill()
        committed = _committed(stack)
        assert all(committed.get(p, 0) < o for p, o in held.items()), (held, committed)
        down = load.count()
        load.wait_for(lambda: load.count() >= down + 20, "exports while the processor is down")
        stack.restart_processor()
        up = load.count()
        load.wait_for(lambda: load.count() >= up + 20, "exports after the restart")
    finally:
        results = load.stop()

    assert all(r.success for r in results), "the receiver does not depend on the processor"
    waited = verify_exactly_once(stack.query, name, results)
    # the written-but-uncommitted messages were read again, and committed this time
    committed = _settled_offsets(stack)
    assert all(committed.get(p, 0) >= o for p, o in held.items()), (held, committed)
    print(
        f"processor SIGKILL: {len(results)} traces exported; offsets {held} held uncommitted at "
        f"the kill; all queryable once {waited:.1f} s after the load stopped"
    )
