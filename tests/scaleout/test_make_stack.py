"""``make stack`` (``deploy/local/stack.py``) with its real S3 server (SeaweedFS): the Langfuse
SDK's media uploads go through the receiver and a presigned PUT, the query side serves the same
bytes; a 20 MB input round-trips through Kafka and S3. Uses the stack's fixed ports, so it is
skipped while any of them is taken."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.api.media import media_id_of
from tests.support.clients import run_client
from tests.support.oversized import TWENTY_MB, assert_reads_return, export, payload, span
from tests.support.service import REPO, Service, basic_auth

SCRIPT = REPO / "deploy" / "local" / "stack.py"
PORTS = (4317, 4318, 4319, 19092, 19000, 19333, 19380, 19888, 29000, 29333, 29380, 29888)

pytestmark = pytest.mark.service


def _busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stack(command: str, folder: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), command],
        cwd=REPO,
        env={**os.environ, "OTELFUSE_STACK_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    busy = [port for port in PORTS if _busy(port)]
    if busy:
        pytest.skip(f"ports of `make stack` in use: {busy}")
    folder = tmp_path_factory.mktemp("make-stack")
    try:
        _stack("up", folder)
        yield json.loads((folder / "credentials.json").read_text())
    finally:
        _stack("down", folder)
    assert not [port for port in PORTS if _busy(port)]


def _service(keys: dict[str, str], port: int) -> Service:
    """The stack's HTTP side on ``port`` as a ``Service`` (for the shared helpers)."""
    return Service(
        process=None,  # type: ignore[arg-type]  # not ours to stop
        http_url=f"http://127.0.0.1:{port}",
        grpc_target="127.0.0.1:4317",
        project_id=keys["project_id"],
        public_key=keys["public_key"],
        secret_key=keys["secret_key"],
        data_dir=Path("."),
        log_path=Path("."),
    )


def test_sdk_media_through_the_stack(keys: dict[str, str]) -> None:
    env = {
        "LANGFUSE_BASE_URL": "http://127.0.0.1:4318",
        "LANGFUSE_PUBLIC_KEY": keys["public_key"],
        "LANGFUSE_SECRET_KEY": keys["secret_key"],
    }
    out = run_client("langfuse_media", env=env)
    auth = {"Authorization": basic_auth(keys["public_key"], keys["secret_key"])}
    for media in out["media"]:
        digest = bytes.fromhex(media["sha256"])
        media_id = media_id_of(base64.b64encode(digest).decode())
        record = httpx.get(
            f"http://127.0.0.1:4319/api/public/media/{media_id}", headers=auth, timeout=30
        )
        assert record.status_code == 200, record.text
        fetched = httpx.get(record.json()["url"], timeout=30)
        assert fetched.status_code == 200
        assert fetched.url.port == 19000  # served by the stack's S3 server
        assert hashlib.sha256(fetched.content).digest() == digest


def test_twenty_mb_input_through_the_stack(keys: dict[str, str]) -> None:
    receiver, query = _service(keys, 4318), _service(keys, 4319)
    value = payload(TWENTY_MB)
    trace_id = os.urandom(16)
    big = span(trace_id, "big-stack", value)
    response = export(receiver, big)
    assert response.status_code == 200, response.text
    assert_reads_return(query, trace_id.hex(), big.span_id.hex(), value)
