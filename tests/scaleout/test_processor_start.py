"""``otelfuse processor`` started while the broker is down waits for it, then consumes.

Before the fix in ``processors.kafka.consumer`` (connect retried with backoff) the consumer task
died on the first connection error while the process kept serving a healthy query API: a processor
started during a broker outage silently consumed nothing until it was restarted by hand.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.scaleout.conftest import GROUP, PARTITIONS, PROJECT, TOPICS, migrate
from tests.scaleout.load import TraceMaker, export_trace, exporter_for, until, verify_exactly_once
from tests.support.kafka import start_durable_broker
from tests.support.postgres import Postgres
from tests.support.service import Service, start_service

pytestmark = pytest.mark.slow


def test_a_processor_started_during_a_broker_outage_consumes_once_it_is_back(
    tmp_path: Path, postgres_server: Postgres
) -> None:
    # S3 storage: the topics created now are still there when the broker comes back
    s3, broker = start_durable_broker(tmp_path / "broker")
    broker.create_topics(*TOPICS, partitions=PARTITIONS)
    project_id, public_key, secret_key = PROJECT
    env = {
        "OTELFUSE_POSTGRES_URL": postgres_server.create_database("late"),
        "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "OTELFUSE_KAFKA_CONSUMER_GROUP": GROUP,
        "OTELFUSE_BATCH_TIMEOUT_MS": "100",
        "OTELFUSE_INIT_PROJECT_ID": project_id,
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
    }
    broker.stop()
    services: list[Service] = []
    try:
        migrate(tmp_path / "processor", env)
        processor = start_service(tmp_path / "processor", env, role=("processor", "--query"))
        services.append(processor)
        until(lambda: "cannot reach Kafka" in processor.log(), "a failed connection attempt", 30)
        assert processor.process.poll() is None

        broker.start()
        receiver = start_service(tmp_path / "receiver", env, role=("receiver",))
        services.append(receiver)
        exporter = exporter_for(receiver, "grpc", timeout_s=30)
        try:
            sent = [export_trace(exporter, TraceMaker("rel-late").trace(), "grpc")]
        finally:
            exporter.shutdown()
        assert sent[0].success
        started = time.monotonic()
        verify_exactly_once(processor, "rel-late", sent, timeout=60)
        print(f"consumed {time.monotonic() - started:.1f} s after the export")
    finally:
        codes = [svc.stop() for svc in reversed(services)]
        broker.stop()
        s3.stop()
    assert codes == [0, 0], codes
