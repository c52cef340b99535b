"""Local scale-out stacks for tests, each role its own process sharing one project.

Every stack has its own database on the session's real PostgreSQL (``postgres_server``):
``otelfuse migrate`` migrates it and creates the stack's project from ``OTELFUSE_INIT_PROJECT_*``,
as in a deployment; the roles only read it.

- ``stack``: tansu (memory storage), ``otelfuse processor --query`` and ``otelfuse receiver``.
- ``durable_stack``: moto S3 + tansu storing in it (acknowledged messages and committed offsets
  survive a broker restart), the processor role in ``tests/clients/processor_harness.py`` (the
  real ``app.processor.Processor``, commandable from the test: ClickHouse failures, held commits,
  SIGKILL and restart on the same data folder and group) and ``otelfuse receiver``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from processors.kafka.config import (
    DEFAULT_DEAD_LETTER_TOPIC,
    DEFAULT_OBSERVATIONS_TOPIC,
    DEFAULT_SCORES_TOPIC,
)
from storage.archive import ArchiveConfig
from tests.clients.processor_harness import Harness, start_processor_harness
from tests.support.kafka import Broker, S3Server, start_broker, start_durable_broker
from tests.support.postgres import Postgres
from tests.support.service import REPO, Service, start_service

TOPIC, SCORES_TOPIC, DLQ = (
    DEFAULT_OBSERVATIONS_TOPIC,
    DEFAULT_SCORES_TOPIC,
    DEFAULT_DEAD_LETTER_TOPIC,
)
RAW_TOPIC = ArchiveConfig().raw_topic
TOPICS = (TOPIC, SCORES_TOPIC, DLQ, RAW_TOPIC)
PARTITIONS = 4
GROUP = "test-processor"
PROJECT = ("proj-scaleout", "pk-lf-scaleout", "sk-lf-scaleout-secret")


@dataclass
class Stack:
    broker: Broker
    processor: Service
    receiver: Service
    env: dict[str, str]
    data_dir: Path


def start_stack(root: Path, postgres_url: str, extra_env: dict[str, str] | None = None) -> Stack:
    """Start broker, processor (+ query API) and receiver on the database ``postgres_url``
    (empty; ``migrate`` prepares it), sharing one project and key pair; topics with 4
    partitions."""
    broker = start_broker(root / "broker")
    broker.create_topics(*TOPICS, partitions=4)
    project_id, public_key, secret_key = PROJECT
    env = {
        "OTELFUSE_POSTGRES_URL": postgres_url,
        "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "OTELFUSE_KAFKA_CONSUMER_GROUP": "test-processor",
        "OTELFUSE_BATCH_TIMEOUT_MS": "100",
        "OTELFUSE_INIT_PROJECT_ID": project_id,
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
        **(extra_env or {}),
    }
    migrate(root / "processor", env)
    processor = start_service(root / "processor", env, role=("processor", "--query"))
    receiver = start_service(root / "receiver", env, role=("receiver",))
    return Stack(broker, processor, receiver, env, root)


def migrate(data_dir: Path, env: dict[str, str]) -> None:
    """``otelfuse migrate`` against the embedded ClickHouse under ``data_dir`` and the new
    database of ``env``: it also creates the ``OTELFUSE_INIT_PROJECT_*`` project there."""
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "migrate"],
        cwd=REPO,
        env={**os.environ, **env, "OTELFUSE_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "0001_create_observations" in result.stderr
    assert f"postgres:project {env['OTELFUSE_INIT_PROJECT_ID']}" in result.stderr


def stop_stack(stack: Stack) -> None:
    codes = {"receiver": stack.receiver.stop(), "processor": stack.processor.stop()}
    stack.broker.stop()
    assert codes == {"receiver": 0, "processor": 0}, (
        stack.receiver.log() + "\n" + stack.processor.log()
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_server: Postgres) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("stack"), postgres_server.create_database("stack")
    )
    yield running
    stop_stack(running)


@dataclass
class DurableStack:
    """moto + S3-backed tansu, the processor harness (+ query API) and a receiver."""

    s3: S3Server
    broker: Broker
    processor: Harness
    receiver: Service
    env: dict[str, str]
    root: Path

    @property
    def query(self) -> Service:
        """The processor's HTTP side: query API and its /metrics."""
        return self.processor.service

    def restart_processor(self) -> None:
        """Start the processor again on the same data folder and consumer group."""
        self.processor = start_processor_harness(self.root / "processor", self.env, project=PROJECT)


def start_durable_stack(
    root: Path, postgres_url: str, extra_env: dict[str, str] | None = None
) -> DurableStack:
    """Start moto, tansu on S3, topics (4 partitions), migrate (ClickHouse and the empty
    database ``postgres_url``), processor harness, receiver."""
    s3, broker = start_durable_broker(root / "broker")
    stops: list[Callable[[], object]] = [s3.stop, broker.stop]
    try:
        broker.create_topics(*TOPICS, partitions=PARTITIONS)
        project_id, public_key, secret_key = PROJECT
        env = {
            "OTELFUSE_POSTGRES_URL": postgres_url,
            "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "OTELFUSE_KAFKA_CONSUMER_GROUP": GROUP,
            "OTELFUSE_BATCH_TIMEOUT_MS": "100",
            # an export waits at most this long for Kafka before answering 503 (default 10 s)
            "OTELFUSE_KAFKA_DELIVERY_TIMEOUT_MS": "2000",
            "OTELFUSE_INIT_PROJECT_ID": project_id,
            "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
            "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
            **(extra_env or {}),
        }
        migrate(root / "processor", env)
        processor = start_processor_harness(root / "processor", env, project=PROJECT)
        stops.append(processor.service.stop)
        receiver = start_service(root / "receiver", env, role=("receiver",))
    except BaseException:
        for stop in reversed(stops):
            stop()
        raise
    return DurableStack(s3, broker, processor, receiver, env, root)


def stop_durable_stack(stack: DurableStack) -> None:
    codes = {"receiver": stack.receiver.stop()}
    if stack.processor.service.process.poll() is None:
        codes["processor"] = stack.processor.service.stop()
    stack.broker.stop()
    stack.s3.stop()
    assert set(codes.values()) == {0}, (
        f"{codes}\n{stack.receiver.log()}\n{stack.processor.service.log()}"
    )


@pytest.fixture(scope="module")
def durable_stack(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: Postgres
) -> Iterator[DurableStack]:
    running = start_durable_stack(
        tmp_path_factory.mktemp("durable"), postgres_server.create_database("durable")
    )
    yield running
    stop_durable_stack(running)
