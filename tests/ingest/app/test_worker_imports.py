"""What a fresh receiver worker process imports (docs/benchmarks.md "Idle memory with workers,
third round"): every module is Python objects each worker holds for its life, so modules only
the owner or the CLI uses are imported where they are used. Each check runs a new interpreter,
since this test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.service import REPO


def _modules_after(statement: str) -> set[str]:
    """``sys.modules`` of a new interpreter (this checkout first on its path) after
    ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(out))


@pytest.fixture(scope="module")
def worker_modules() -> set[str]:
    return _modules_after("import ingest.app.worker")


def test_a_worker_loads_what_it_serves(worker_modules: set[str]) -> None:
    # the control: the probe sees the worker's own parts
    assert {"ingest.otlp.export", "ingest.otlp.grpc_receiver", "processors.enrich"} <= (
        worker_modules
    )


@pytest.mark.parametrize(
    "module",
    [
        "aiokafka",  # the Kafka producer of the receiver role (ingest.kafka)
        "ingest.kafka",
        "ingest.app.replay",  # `otelfuse archive replay` (ingest.app.archive)
        "ingest.api.media",  # the media API, served by the owner (ingest.app.media)
        "ingest.api.media_tokens",
        "itsdangerous",
        "chdb",  # embedded ClickHouse lives in the owner
        "pyarrow",
    ],
)
def test_a_worker_does_not_import(worker_modules: set[str], module: str) -> None:
    assert module not in worker_modules


def test_the_settings_do_not_import_the_kafka_client() -> None:
    modules = _modules_after("from ingest.app.settings import Settings; Settings.from_env({})")
    assert "processors.kafka.config" in modules
    assert "aiokafka" not in modules and "ingest.kafka" not in modules


def test_the_all_in_one_owner_does_not_import_grpc() -> None:
    """With worker processes the owner never serves gRPC (its workers do): grpcio is imported
    where the gRPC server starts (``ingest.app.servers.start_grpc``), and the error table
    carries ``google.rpc.Code`` numbers (docs/benchmarks.md "Idle memory with workers, fourth
    round")."""
    modules = _modules_after("import ingest.app.all_in_one, ingest.app.cli")
    assert "ingest.app.all_in_one" in modules
    assert "grpc" not in modules and "ingest.otlp.grpc_receiver" not in modules
