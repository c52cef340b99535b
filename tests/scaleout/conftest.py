"""A local scale-out stack for tests: tansu, ``otelfuse processor --query`` and
``otelfuse receiver`` as separate processes sharing one project."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.kafka import Broker, start_broker
from tests.support.service import REPO, Service, start_service

TOPICS = ("otelfuse.observations", "otelfuse.observations.dlq")


@dataclass
class Stack:
    broker: Broker
    processor: Service
    receiver: Service
    env: dict[str, str]
    data_dir: Path


def start_stack(root: Path, extra_env: dict[str, str] | None = None) -> Stack:
    """Start broker, processor (+ query API) and receiver; topics with 4 partitions."""
    broker = start_broker(root / "broker")
    broker.create_topics(*TOPICS, partitions=4)
    env = {
        "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "OTELFUSE_KAFKA_CONSUMER_GROUP": "test-processor",
        "OTELFUSE_BATCH_TIMEOUT_MS": "100",
        **(extra_env or {}),
    }
    migrate(root / "processor", env)
    processor = start_service(root / "processor", env, role=("processor", "--query"))
    receiver = start_service(root / "receiver", env, role=("receiver",))
    return Stack(broker, processor, receiver, env, root)


def migrate(data_dir: Path, env: dict[str, str]) -> None:
    """``otelfuse migrate`` against the embedded ClickHouse under ``data_dir``."""
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


def stop_stack(stack: Stack) -> None:
    codes = {"receiver": stack.receiver.stop(), "processor": stack.processor.stop()}
    stack.broker.stop()
    assert codes == {"receiver": 0, "processor": 0}, (
        stack.receiver.log() + "\n" + stack.processor.log()
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_stack(running)
