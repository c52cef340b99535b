"""The receivers' archive hook (``ingest.archive_hook``) over the real routes, a real
``ArchiveQueue`` and a local blob folder: what is archived for each endpoint, the per-project
opt-out, and backpressure when the archive queue is full."""

from __future__ import annotations

import asyncio
import base64
import gzip
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.testclient import TestClient

from ingest.api.ingestion import Ingestion
from ingest.api.scores import ScoreWrites
from ingest.archive_hook import Archiving
from ingest.otlp.export import TraceExport
from ingest.otlp.http_receiver import OTLPHTTPReceiver
from ingest.otlp.logs_export import LogsExport
from ingest.otlp.logs_http import OTLPHTTPLogsReceiver
from storage.archive import ArchiveConfig, ArchivedRequest
from storage.archive.format import decode_object
from storage.archive.queue import ArchiveQueue
from storage.auth import Project, StaticKeyStore, hash_secret
from storage.blobs import LocalBlobStore
from tests.support.fakes import RecordingSink
from tests.support.http import test_client

KEYS = StaticKeyStore(
    [
        ("pk-1", hash_secret("sk-1"), Project("proj-1")),
        ("pk-2", hash_secret("sk-2"), Project("proj-2")),
    ]
)
LIMIT = 1 << 20
SPAN = {
    "resourceSpans": [
        {
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "name": "llm call",
                            "startTimeUnixNano": "1763770000000000000",
                            "endTimeUnixNano": "1763770001000000000",
                        }
                    ]
                }
            ]
        }
    ]
}


def _auth(n: int) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"pk-{n}:sk-{n}".encode()).decode()}


def _client(queue: ArchiveQueue, config: ArchiveConfig, sink: RecordingSink) -> TestClient:
    archive = Archiving(queue, config)
    export = TraceExport(sink, KEYS, sink, archive)
    return test_client(
        [
            *OTLPHTTPReceiver(export, LIMIT).routes(),
            *OTLPHTTPLogsReceiver(LogsExport(export, sink), LIMIT).routes(),
            *ScoreWrites(sink, KEYS, LIMIT, archive).routes(),
            *Ingestion(sink, sink, KEYS, LIMIT, archive).routes(),
        ]
    )


def _archived(queue: ArchiveQueue, store: LocalBlobStore) -> list[ArchivedRequest]:
    async def read() -> list[ArchivedRequest]:
        await queue.flush()
        found = []
        for key, _ in await store.list_keys("raw/v1/"):
            found += list(decode_object(await store.get(key)))
        return sorted(found, key=lambda r: r.received_unix_nano)

    return asyncio.run(read())


def test_every_endpoint_archives_what_it_accepted(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    config = ArchiveConfig(exclude_projects="proj-2")
    queue, sink = ArchiveQueue(store, config), RecordingSink()
    client = _client(queue, config, sink)
    started = time.time_ns()
    assert client.post("/v1/traces", json=SPAN, headers=_auth(1)).status_code == 200
    logs = client.post(
        "/v1/logs",
        content=b"",
        headers={**_auth(1), "Content-Type": "application/x-protobuf"},
    )
    assert logs.status_code == 200
    batch = b'{"batch": [{"id": "e1", "type": "trace-create", "timestamp": '
    batch += b'"2026-12-03T10:00:00Z", "body": {"id": "t1"}}]}'
    sent = client.post(
        "/api/public/ingestion",
        content=batch,
        headers={**_auth(1), "Content-Type": "application/json", "x-langfuse-sdk-name": "py"},
    )
    assert sent.status_code == 207
    score = b'{"traceId": "t1", "name": "q", "value": 1}'
    sent = client.post(
        "/api/public/scores",
        content=score,
        headers={**_auth(1), "Content-Type": "application/json"},
    )
    assert sent.status_code == 200
    assert client.post("/v1/traces", json=SPAN, headers=_auth(2)).status_code == 200  # opted out
    bad = client.post(
        "/v1/traces", content=b"{", headers={**_auth(1), "Content-Type": "application/json"}
    )
    assert bad.status_code == 400  # not accepted: not archived
    archived = _archived(queue, store)
    assert [r.kind for r in archived] == [
        ArchivedRequest.OTLP_TRACES,
        ArchivedRequest.OTLP_LOGS,
        ArchivedRequest.LANGFUSE_INGESTION,
        ArchivedRequest.LANGFUSE_SCORES,
    ]
    assert {r.project_id for r in archived} == {"proj-1"}
    assert len({r.request_id for r in archived}) == 4
    assert all(started <= r.received_unix_nano <= time.time_ns() for r in archived)
    traces = ExportTraceServiceRequest.FromString(archived[0].body)
    assert traces.resource_spans[0].scope_spans[0].spans[0].name == "llm call"
    assert archived[0].content_type == "application/x-protobuf"
    assert archived[0].transport == "http"
    assert (archived[2].body, archived[2].sdk_name) == (batch, "py")
    assert (archived[3].body, archived[3].content_type) == (score, "application/json")
    assert len(sink.records) == 3  # two spans and the trace-create record


def test_a_full_archive_queue_answers_503_before_anything_is_stored(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    config = ArchiveConfig(queue_max_bytes=1)
    queue, sink = ArchiveQueue(store, config), RecordingSink()
    client = _client(queue, config, sink)
    assert client.post("/v1/traces", json=SPAN, headers=_auth(1)).status_code == 200
    refused = client.post("/v1/traces", json=SPAN, headers=_auth(1))
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    refused = client.post(
        "/api/public/scores", json={"traceId": "t", "name": "q", "value": 1}, headers=_auth(1)
    )
    assert refused.status_code == 503
    assert len(sink.records) == 1 and not sink.scores
    assert len(_archived(queue, store)) == 1
    assert client.post("/v1/traces", json=SPAN, headers=_auth(1)).status_code == 200  # drained


def test_a_protobuf_export_is_archived_as_received(tmp_path: Path) -> None:
    """A protobuf body that decodes as a whole is archived byte for byte (after
    ``Content-Encoding``), not encoded again: this one has its span's name before its ids,
    which the encoder would put in field order."""
    store = LocalBlobStore(tmp_path)
    config = ArchiveConfig()
    queue, sink = ArchiveQueue(store, config), RecordingSink()
    client = _client(queue, config, sink)
    ids = Span(
        trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
        span_id=bytes.fromhex("eee19b7ec3c1b174"),
        start_time_unix_nano=1_763_770_000_000_000_000,
        end_time_unix_nano=1_763_770_001_000_000_000,
    )
    span = Span(name="llm call").SerializeToString() + ids.SerializeToString()
    scope = b"\x12" + bytes((len(span),)) + span  # ScopeSpans.spans (2)
    resource = b"\x12" + bytes((len(scope),)) + scope  # ResourceSpans.scope_spans (2)
    body = b"\x0a" + bytes((len(resource),)) + resource  # resource_spans (1)
    assert len(resource) < 0x80  # one-byte lengths
    assert ExportTraceServiceRequest.FromString(body).SerializeToString() != body
    protobuf = {**_auth(1), "Content-Type": "application/x-protobuf"}
    assert client.post("/v1/traces", content=body, headers=protobuf).status_code == 200
    gzipped = {**protobuf, "Content-Encoding": "gzip"}
    sent = client.post("/v1/traces", content=gzip.compress(body), headers=gzipped)
    assert sent.status_code == 200
    assert [r.body for r in _archived(queue, store)] == [body, body]
    assert [r.name for r in sink.records if r.name] == ["llm call", "llm call"]
