"""The archiver role (``otelfuse archiver``) with a real broker (tansu), a real S3 server
(SeaweedFS) and the real receiver: every accepted request reaches the raw topic before it is
answered, and killing the archiver with SIGKILL mid-batch, twice, loses nothing and duplicates
nothing as the archive is read (``ArchiveReader``: repeated request ids dropped; issue 13);
``otelfuse replay --via-kafka`` then publishes every archived span to the observations topic
once more."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from storage.archive import ArchiveConfig
from storage.archive.reader import ArchiveReader
from storage.blobs import S3Config
from storage.blobs.s3 import S3BlobStore
from storage.records import decode_observation_batch
from tests.scaleout.conftest import PROJECT, migrate
from tests.support.kafka import Broker, S3Server, read_topic, start_broker, start_s3
from tests.support.postgres import Postgres
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, SeaweedFS
from tests.support.service import Service, basic_auth, otelfuse_cli, start_service

pytestmark = [pytest.mark.timeout(300)]

EXPORTS = 60


def _export(n: int) -> dict[str, object]:
    start = time.time_ns()
    span = {
        "traceId": f"{n + 1:032x}",
        "spanId": f"{n + 1:016x}",
        "name": f"span {n}",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1000),
    }
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def _read_archive(store_config: S3Config) -> tuple[list[str], int]:
    """Span names of every request read from the archive (each request once), and the
    repeated frames the reader dropped."""

    async def read() -> tuple[list[str], int]:
        store = S3BlobStore(store_config)
        reader = ArchiveReader(store)
        now = datetime.now(UTC)
        names, duplicates = [], 0
        for key, size in await reader.list_objects(PROJECT[0], now - timedelta(hours=1), now):
            archived = await reader.read_object(key, size)
            duplicates += archived.duplicates
            for request in archived.requests:
                body = ExportTraceServiceRequest.FromString(request.body)
                names += [s.name for s in body.resource_spans[0].scope_spans[0].spans]
        await store.close()
        return names, duplicates

    return asyncio.run(read())


def _buffered(archiver: Service) -> bool:
    """True once the archiver holds fetched requests not yet written (its queued-bytes gauge)."""
    for line in archiver.get("/metrics").text.splitlines():
        if line.startswith("otelfuse_archive_queued_bytes "):
            return float(line.split()[1]) > 0
    return False


def _span_names(broker: Broker) -> list[str]:
    names = []
    for message in read_topic(broker.bootstrap, "otelfuse.observations", 2):
        names += [record.name for record in decode_observation_batch(message.value)]
    return names


def _setup(
    tmp_path: Path,
    s3_server: SeaweedFS,
    postgres: Postgres,
    max_age_s: float,
    durable: S3Server | None = None,
) -> tuple[Broker, S3Config, dict[str, str]]:
    """A broker (storing in ``durable`` when given) with the topics (2 partitions each), a fresh
    bucket, a migrated database with the test project, and the roles' settings."""
    if durable is None:
        broker: Broker = start_broker(tmp_path / "broker")
    else:
        durable.create_bucket("tansu")
        broker = start_broker(tmp_path / "broker", s3_endpoint=durable.endpoint, bucket="tansu")
    raw_topic = ArchiveConfig().raw_topic
    broker.create_topics(
        "otelfuse.observations", "otelfuse.scores", "otelfuse.observations.dlq", partitions=2
    )
    broker.create_topics(raw_topic, partitions=2)
    bucket = f"archive-{uuid.uuid4().hex[:8]}"
    s3 = S3Config(
        endpoint=s3_server.endpoint,
        bucket=bucket,
        prefix="otelfuse/",
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )
    project_id, public_key, secret_key = PROJECT
    env = {
        "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "OTELFUSE_INIT_PROJECT_ID": project_id,
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
        "OTELFUSE_BLOB_BACKEND": "s3",
        "OTELFUSE_S3_ENDPOINT": s3.endpoint,
        "OTELFUSE_S3_BUCKET": bucket,
        "OTELFUSE_S3_PREFIX": s3.prefix,
        "OTELFUSE_S3_REGION": REGION,
        "OTELFUSE_S3_ACCESS_KEY": ACCESS_KEY,
        "OTELFUSE_S3_SECRET_KEY": SECRET_KEY,
        "OTELFUSE_ARCHIVE_OBJECT_MAX_AGE_S": str(max_age_s),
        "OTELFUSE_POSTGRES_URL": postgres.create_database(f"archiver_{uuid.uuid4().hex[:8]}"),
    }
    migrate(tmp_path / "migrate", env)
    return broker, s3, env


def test_archiver_killed_mid_batch_loses_and_duplicates_nothing(
    tmp_path: Path, s3_server: SeaweedFS, postgres_server: Postgres
) -> None:
    broker, s3, env = _setup(tmp_path, s3_server, postgres_server, 0.4)
    project_id, public_key, secret_key = PROJECT
    archiver: Service = start_service(tmp_path / "archiver", env, role=("archiver",))
    receiver = start_service(tmp_path / "receiver", env, role=("receiver",))
    sent: list[str] = []
    errors: list[str] = []

    def send() -> None:
        with httpx.Client(base_url=receiver.http_url, timeout=30) as client:
            for n in range(EXPORTS):
                response = client.post(
                    "/v1/traces",
                    json=_export(n),
                    headers={"Authorization": basic_auth(public_key, secret_key)},
                )
                if response.status_code == 200:
                    sent.append(f"span {n}")
                else:
                    errors.append(response.text)
                time.sleep(0.08)

    sender = threading.Thread(target=send)
    try:
        sender.start()
        for delay in (1.5, 1.7):  # mid-batch: objects are cut every 0.4 s
            time.sleep(delay)
            archiver.process.send_signal(signal.SIGKILL)
            archiver.process.wait()
            archiver = start_service(tmp_path / "archiver", env, role=("archiver",))
        sender.join()
        assert not errors and len(sent) == EXPORTS
        deadline = time.monotonic() + 60
        names: list[str] = []
        duplicates = 0
        while time.monotonic() < deadline:
            names, duplicates = _read_archive(s3)
            if len(names) >= EXPORTS:
                break
            time.sleep(0.5)
        assert sorted(names) == sorted(sent)  # every accepted request once
        assert len(set(names)) == len(names)
        print(f"repeated frames dropped by the reader: {duplicates}")
        metrics = archiver.get("/metrics").text
        assert "otelfuse_archive_objects_total" in metrics

        # replay --via-kafka publishes the archived spans again for the processors
        before = _span_names(broker)
        assert sorted(before) == sorted(sent)
        now = datetime.now(UTC)
        window = ["--from", (now - timedelta(hours=1)).isoformat(), "--to", now.isoformat()]
        replay = otelfuse_cli(
            ["replay", "--project", project_id, *window, "--via-kafka", "--json"],
            {**env, "OTELFUSE_DATA_DIR": str(tmp_path / "replay")},
        )
        assert '"requests": 60' in replay.stdout, replay.stdout
        assert sorted(_span_names(broker)) == sorted(before * 2)
    finally:
        sender.join()
        receiver.stop()
        archiver.stop()
        broker.stop()


def test_archiver_killed_between_write_and_commit_writes_again_and_readers_dedupe(
    tmp_path: Path, s3_server: SeaweedFS, postgres_server: Postgres
) -> None:
    """The window the commit-after-write order leaves: objects written, offsets not committed.
    The broker (durable: messages and commits in S3) is paused (SIGSTOP) after the archiver
    fetched, so its commit hangs once the objects are in S3; the archiver and the broker are
    then killed (the commit never reaches the broker) and both restarted. The new archiver
    reads the same messages and writes them again: the archive holds every request twice, and
    readers return each once."""
    moto = start_s3(tmp_path / "moto")
    broker, s3, env = _setup(tmp_path, s3_server, postgres_server, 2.0, durable=moto)
    _, public_key, secret_key = PROJECT
    assert broker.process is not None
    tansu = broker.process
    archiver: Service = start_service(tmp_path / "archiver", env, role=("archiver",))
    receiver = start_service(tmp_path / "receiver", env, role=("receiver",))
    paused = False
    try:
        with httpx.Client(base_url=receiver.http_url, timeout=30) as client:
            for n in range(10):
                response = client.post(
                    "/v1/traces",
                    json=_export(n),
                    headers={"Authorization": basic_auth(public_key, secret_key)},
                )
                assert response.status_code == 200, response.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _buffered(archiver):
            time.sleep(0.05)
        assert _buffered(archiver), "the archiver did not fetch"
        tansu.send_signal(signal.SIGSTOP)  # the objects are cut 2 s after the fetch
        paused = True
        deadline = time.monotonic() + 30
        names: list[str] = []
        while time.monotonic() < deadline and len(names) < 10:
            names, _ = _read_archive(s3)
            time.sleep(0.2)
        assert len(names) == 10  # written; the commit waits for the paused broker
        archiver.process.send_signal(signal.SIGKILL)
        archiver.process.wait()
        broker.stop(signal.SIGKILL)  # with the commit request still unread in its socket
        paused = False
        broker.start()
        archiver = start_service(tmp_path / "archiver", env, role=("archiver",))
        deadline = time.monotonic() + 90
        duplicates = 0
        while time.monotonic() < deadline and duplicates < 10:
            names, duplicates = _read_archive(s3)
            time.sleep(0.5)
        assert duplicates == 10  # every request written twice ...
        assert sorted(names) == sorted(f"span {n}" for n in range(10))  # ... and read once
    finally:
        if paused:
            tansu.send_signal(signal.SIGCONT)
        receiver.stop()
        archiver.stop()
        broker.stop()
        moto.stop()
