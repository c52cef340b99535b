"""Start and stop a real ``otelfuse run`` process for tests (and the benchmark)."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from storage.postgres.embedded import EMBEDDED_DIR, stop_server

REPO = Path(__file__).resolve().parents[2]


WORKERS = "OTELFUSE_WORKERS"
"""``start_service`` pins it to 1 (the product default is the CPU count: ``available_cpus``):
a service per test module stays one process; tests of worker processes set it, and
``OTELFUSE_WORKERS=2 pytest ...`` runs every service test with two workers."""

FAST_RUN = "OTELFUSE_TEST_FAST"
"""Set to 1 by ``make test-fast``: starting an external process is then a test-selection bug."""


def refuse_in_fast_run(what: str) -> None:
    """Fail a test that starts ``what`` (a process) in ``make test-fast``: it needs the
    ``service`` marker (``tests/conftest.py`` sets it from the fixtures and folders it knows)."""
    if os.environ.get(FAST_RUN) == "1":
        raise RuntimeError(
            f"{what} started during `make test-fast`: mark the test `service` "
            "(pytestmark, or a fixture listed in tests/conftest.py SERVICE_FIXTURES)"
        )


def basic_auth(public_key: str, secret_key: str) -> str:
    """The ``Authorization`` value for a key pair."""
    return "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


def metric_total(exposition: str, sample: str, **labels: str) -> float:
    """The sum of the ``sample`` series (a sample name, e.g. ``..._total``) whose labels include
    ``labels``, over every other label: PromQL ``sum(sample{labels})``. With worker processes
    each worker's series carries ``worker="N"`` (docs/architecture.md "Worker processes"), so
    this is the service's total whichever process counted."""
    return sum(
        s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name == sample and labels.items() <= s.labels.items()
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A running all-in-one otelfuse and the credentials of its project."""

    process: subprocess.Popen[bytes]
    http_url: str
    grpc_target: str
    project_id: str
    public_key: str
    secret_key: str
    data_dir: Path
    log_path: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.http_url, timeout=30)

    @property
    def authorization(self) -> str:
        return basic_auth(self.public_key, self.secret_key)

    def langfuse_env(self) -> dict[str, str]:
        """The environment that points a Langfuse SDK at this service with its project."""
        return {
            "LANGFUSE_BASE_URL": self.http_url,
            "LANGFUSE_PUBLIC_KEY": self.public_key,
            "LANGFUSE_SECRET_KEY": self.secret_key,
        }

    def get(self, path: str, params: Any = None, *, auth: str | None = None) -> httpx.Response:
        """GET on the query API with the project's credentials (or ``auth``)."""
        headers = {"Authorization": auth if auth is not None else self.authorization}
        return self.client.get(path, params=params, headers=headers)

    def get_json(self, path: str, params: Any = None) -> Any:
        response = self.get(path, params)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def metrics_when(
        self, sample: str, at_least: float, labels: Mapping[str, str] | None = None
    ) -> str:
        """``/metrics`` once ``metric_total(sample, **labels)`` reached ``at_least``: a worker
        process's counts reach the owner's ``/metrics`` within a second
        (``ingest.app.worker_metrics.PUSH_INTERVAL_S``), one process's at once.

        Raises:
            AssertionError: not reached within 10 s (the last exposition shown).
        """
        labels = labels or {}
        deadline = time.monotonic() + 10
        while True:
            response = self.client.get("/metrics")
            assert response.status_code == 200, response.text
            if metric_total(response.text, sample, **labels) >= at_least:
                return response.text
            assert time.monotonic() < deadline, (sample, labels, at_least, response.text)
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait, return the exit code (kills after ``timeout`` seconds). An embedded
        PostgreSQL a killed process left running in the data folder is stopped too."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        stop_server(self.data_dir / EMBEDDED_DIR)
        return self.process.returncode


def start_service(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    role: Sequence[str] = ("run",),
    timeout: float = 90,
) -> Service:
    """Start ``python -m ingest <role>`` on free loopback ports and wait for its health check;
    one process (``OTELFUSE_WORKERS=1``) unless ``env`` or ``os.environ`` sets ``WORKERS``.

    Raises:
        RuntimeError: the process exits or is not healthy within ``timeout`` seconds.
    """
    refuse_in_fast_run("start_service")
    http_port, grpc_port = free_port(), free_port()
    project_id, public_key = "proj-test", "pk-lf-test"
    secret_key = "sk-lf-test-" + base64.b16encode(os.urandom(8)).decode().lower()
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        WORKERS: "1",  # one process unless the test (or the caller's environment) asks for more
        **os.environ,
        "OTELFUSE_DATA_DIR": str(data_dir),
        "OTELFUSE_HTTP_ADDRESS": f"127.0.0.1:{http_port}",
        "OTELFUSE_GRPC_ADDRESS": f"127.0.0.1:{grpc_port}",
        "OTELFUSE_INIT_PROJECT_ID": project_id,
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
        **(env or {}),
    }
    log_path = data_dir / f"otelfuse-{role[0]}.log"
    with log_path.open("wb") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest", *role],
            cwd=REPO,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    service = Service(
        process,
        f"http://127.0.0.1:{http_port}",
        f"127.0.0.1:{grpc_port}",
        full_env["OTELFUSE_INIT_PROJECT_ID"],
        full_env["OTELFUSE_INIT_PROJECT_PUBLIC_KEY"],
        full_env["OTELFUSE_INIT_PROJECT_SECRET_KEY"],
        data_dir,
        log_path,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"otelfuse exited with {process.returncode}:\n{service.log()}")
        try:
            if service.client.get("/api/public/health").status_code == 200:
                return service
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"otelfuse not healthy after {timeout}s:\n{service.log()}")


def otelfuse_cli(
    args: list[str], env: Mapping[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ingest ARGS`` with ``env`` on top of the test process's environment."""
    refuse_in_fast_run("otelfuse_cli")
    result = subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"otelfuse {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
