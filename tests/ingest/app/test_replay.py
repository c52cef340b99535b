"""``Replayer`` over a real local archive: archive order, the current mapping with the archived
receive time, checkpoint and resume after a failure, dry run, scores only when asked."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ingest.app.replay import Replayer, ReplayOptions, map_archived, parse_time
from storage.archive import ArchivedRequest
from storage.archive.buffer import ArchiveBuffer
from storage.archive.queue import write_object
from storage.archive.reader import ArchiveReader
from storage.blobs import LocalBlobStore
from storage.errors import RetryableError
from storage.records import ObservationRecord
from tests.support.fakes import RecordingSink

START = datetime(2026, 12, 3, 10, tzinfo=UTC)
T0 = int(START.timestamp()) * 1_000_000_000


def _traces(span_id: int, at: int) -> ArchivedRequest:
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "W47/95gDgQPSabYzgT/GDA==",
                                "spanId": base64.b64encode(span_id.to_bytes(8, "big")).decode(),
                                "name": f"span {span_id}",
                                "startTimeUnixNano": str(at - 1_000_000_000),
                                "endTimeUnixNano": str(at),
                            }
                        ]
                    }
                ]
            }
        ]
    }
    request = json_format.ParseDict(body, ExportTraceServiceRequest())
    return ArchivedRequest(
        request_id=uuid.uuid4().bytes,
        project_id="proj-1",
        received_unix_nano=at,
        kind=ArchivedRequest.OTLP_TRACES,
        transport="grpc",
        content_type="application/x-protobuf",
        body=request.SerializeToString(),
    )


def _score(at: int) -> ArchivedRequest:
    return ArchivedRequest(
        request_id=uuid.uuid4().bytes,
        project_id="proj-1",
        received_unix_nano=at,
        kind=ArchivedRequest.LANGFUSE_SCORES,
        transport="http",
        content_type="application/json",
        body=b'[{"traceId": "t", "name": "q", "value": 1}, {"name": ""}]',
    )


async def _archive(store: LocalBlobStore) -> None:
    """Three objects in one hour: spans 1-2, spans 3-4 and a score, span 5."""
    for requests in (
        [_traces(1, T0 + 1), _traces(2, T0 + 2)],
        [_traces(3, T0 + 3), _traces(4, T0 + 4), _score(T0 + 5)],
        [_traces(5, T0 + 6)],
    ):
        buffer = ArchiveBuffer(1 << 20, 60)
        for request in requests:
            buffer.add(request)
        for pending in buffer.take():
            await write_object(store, pending)


class FailOnSpan(RecordingSink):
    """Fails the submission holding span ``name``."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    async def submit(self, records: Sequence[ObservationRecord]) -> dict[int, str]:
        if any(r.name == self.name for r in records):
            raise RetryableError("storage down")
        return await super().submit(records)


def test_map_archived_uses_the_archived_receive_time() -> None:
    records, scores = map_archived(_score(T0 + 5))
    assert records == [] and [s.timestamp_us for s in scores] == [(T0 + 5) // 1000]
    records, _ = map_archived(_traces(1, T0 + 1))
    assert [r.name for r in records] == ["span 1"]
    assert parse_time("2026-12-03T10:00") == START == parse_time("2026-12-03T11:00+01:00")


def test_replay_resumes_after_the_last_object_written(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = LocalBlobStore(tmp_path / "blobs")
        await _archive(store)
        checkpoint = tmp_path / "replay.json"
        options = ReplayOptions(
            project_id="proj-1",
            start=START,
            end=START + timedelta(hours=1),
            checkpoint=checkpoint,
            with_scores=True,
        )
        failing = FailOnSpan("span 5")
        progress = io.StringIO()
        with pytest.raises(RetryableError):
            await Replayer(ArchiveReader(store), failing, failing, progress=progress).run(options)
        assert [r.name for r in failing.records] == [f"span {i}" for i in range(1, 5)]
        assert len(failing.scores) == 1  # the valid score of the array
        assert checkpoint.exists()
        resumed = RecordingSink()
        summary = await Replayer(ArchiveReader(store), resumed, resumed, progress=None).run(options)
        assert [r.name for r in resumed.records] == ["span 5"]
        assert summary.objects == 1 and summary.resumed_after is not None
        assert not checkpoint.exists()  # done: a new replay starts from the beginning
        again = RecordingSink()
        summary = await Replayer(ArchiveReader(store), again, None, progress=None).run(options)
        assert len(again.records) == 5 and not again.scores and summary.requests == 6
        assert "replay: objects 1/3, requests 2, records 2" in progress.getvalue()
        dry = await Replayer(ArchiveReader(store), None, progress=None).run(
            ReplayOptions(
                project_id="proj-1", start=START, end=START + timedelta(hours=1), dry_run=True
            )
        )
        assert (dry.requests, dry.records, dry.scores) == (6, 5, 0)
        await store.close()

    asyncio.run(scenario())
