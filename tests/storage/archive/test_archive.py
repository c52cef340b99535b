"""The raw archive's format, buffer, queue, reader and prune over a real local blob folder
(docs/archive-format.md)."""

from __future__ import annotations

import asyncio
import struct
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zstandard

from storage.archive import ArchiveConfig, ArchivedRequest
from storage.archive.buffer import ArchiveBuffer
from storage.archive.format import (
    MAGIC,
    decode_object,
    encode_object,
    hour_of,
    object_key,
    parse_key,
    uuid7,
)
from storage.archive.prune import prune_archive
from storage.archive.queue import STOP_ATTEMPTS, ArchiveQueue, write_object
from storage.archive.reader import ArchiveReader
from storage.archive.telemetry import ARCHIVE_METRICS
from storage.blobs import LocalBlobStore
from storage.errors import PermanentError

T0 = int(datetime(2026, 12, 3, 10, 59, 59, tzinfo=UTC).timestamp()) * 1_000_000_000


def _request(project: str = "proj-a", at: int = T0, body: bytes = b"{}") -> ArchivedRequest:
    return ArchivedRequest(
        request_id=uuid.uuid4().bytes,
        project_id=project,
        received_unix_nano=at,
        kind=ArchivedRequest.LANGFUSE_SCORES,
        transport="http",
        content_type="application/json",
        body=body,
    )


def test_object_round_trip_and_documented_framing() -> None:
    requests = [_request(body=b'{"n": %d}' % i) for i in range(3)]
    data = encode_object([r.SerializeToString() for r in requests])
    assert list(decode_object(data)) == requests
    raw = zstandard.ZstdDecompressor().decompress(data)
    assert raw[:4] == MAGIC and struct.unpack(">H", raw[4:6]) == (1,)
    (size,) = struct.unpack(">I", raw[6:10])
    assert ArchivedRequest.FromString(raw[10 : 10 + size]) == requests[0]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not zstd", "zstd"),
        (zstandard.ZstdCompressor().compress(b"XXXX\x00\x01"), "magic"),
        (zstandard.ZstdCompressor().compress(MAGIC + b"\x00\x02"), "version 2"),
        (zstandard.ZstdCompressor().compress(MAGIC + b"\x00\x01\x00\x00\x00\x09ab"), "truncated"),
    ],
)
def test_corrupt_objects_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(PermanentError, match=reason):
        list(decode_object(data))


def test_key_layout_is_project_and_utc_hour_with_time_ordered_uuid() -> None:
    key = object_key("proj:a", T0)
    assert key.startswith("raw/v1/proj:a/2026/12/03/10/") and key.endswith(".zst")
    assert parse_key(key) == ("proj:a", datetime(2026, 12, 3, 10, tzinfo=UTC))
    assert parse_key("raw/v1/x/2026/12/03/10/nope.zst") is None
    early, late = uuid7(T0), uuid7(T0 + 2_000_000)
    assert uuid.UUID(early).version == 7 and early < late
    assert hour_of(T0 + 1_000_000_000) == datetime(2026, 12, 3, 11, tzinfo=UTC)


def test_buffer_groups_by_project_and_hour_and_cuts_by_size_or_age() -> None:
    buffer = ArchiveBuffer(max_bytes=10_000, max_age_s=60)
    assert not buffer.due()
    for request in (_request(), _request(at=T0 + 1_000_000_000), _request("proj-b")):
        buffer.add(request)
    assert not buffer.due()
    assert buffer.due(now=10**9)  # age
    objects = buffer.take()
    assert [parse_key(o.key) for o in objects] == [
        ("proj-a", datetime(2026, 12, 3, 10, tzinfo=UTC)),
        ("proj-a", datetime(2026, 12, 3, 11, tzinfo=UTC)),
        ("proj-b", datetime(2026, 12, 3, 10, tzinfo=UTC)),
    ]
    assert buffer.size == 0 and not buffer.due(now=10**9)
    buffer.add(_request(body=b"x" * 10_000))
    assert buffer.due()  # size


def test_reader_returns_each_request_once_in_range(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = LocalBlobStore(tmp_path)
        first = [_request(at=T0 + i) for i in range(5)]
        buffer = ArchiveBuffer(1 << 20, 60)
        for request in first:
            buffer.add(request)
        for pending in buffer.take():
            await write_object(store, pending)
        # an archiver killed before its commit writes the same requests again, plus new ones
        later = [_request(at=T0 + 2_000_000_000 + i) for i in range(2)]
        for request in [*first[2:], *later]:
            buffer.add(request)
        for pending in buffer.take():
            await write_object(store, pending)
        buffer.add(_request("proj-b"))
        for pending in buffer.take():
            await write_object(store, pending)
        reader = ArchiveReader(store)
        start = datetime(2026, 12, 3, 10, tzinfo=UTC)
        got = [r async for r in reader.requests("proj-a", start, start + timedelta(hours=3))]
        assert [r.request_id for r in got] == [r.request_id for r in [*first, *later]]
        window = ArchiveReader(store)
        since = datetime.fromtimestamp((T0 + 1_000_000_000) / 1e9, UTC)
        got = [r async for r in window.requests("proj-a", since, start + timedelta(hours=3))]
        assert [r.request_id for r in got] == [r.request_id for r in later]
        await store.close()

    asyncio.run(scenario())


def test_queue_writes_in_background_and_applies_backpressure(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = LocalBlobStore(tmp_path / "blobs")
        config = ArchiveConfig(object_max_age_s=0.05, queue_max_bytes=2_000)
        queue = ArchiveQueue(store, config)
        await queue.start()
        await asyncio.sleep(0.1)  # the flusher waits with an empty buffer
        await queue.submit(_request(body=b"y" * 3_000))
        assert not queue.has_room()  # above the bound until written
        for _ in range(100):
            if queue.has_room():
                break
            await asyncio.sleep(0.02)
        assert queue.has_room() and queue.queued_bytes == 0
        await queue.submit(_request(body=b"z"))
        await queue.stop()  # writes what is buffered
        keys = await store.list_keys("raw/v1/")
        assert len(keys) == 2
        bodies = []
        for key, _ in keys:
            bodies += [r.body for r in decode_object(await store.get(key))]
        assert sorted(bodies) == [b"y" * 3_000, b"z"]
        await store.close()

    asyncio.run(scenario())


def test_queue_keeps_requests_while_the_store_fails(tmp_path: Path) -> None:
    async def scenario() -> None:
        blocker = tmp_path / "blobs"
        blocker.write_text("a file where the folder should be")  # every put fails
        store = LocalBlobStore(blocker)
        queue = ArchiveQueue(store, ArchiveConfig(object_max_age_s=0.01, queue_max_bytes=100))
        await queue.start()
        await queue.submit(_request(body=b"k" * 200))
        await asyncio.sleep(0.3)
        assert not queue.has_room()  # still held: 503 for new requests, nothing dropped
        blocker.unlink()
        for _ in range(200):
            if queue.has_room():
                break
            await asyncio.sleep(0.05)
        assert queue.has_room()
        await queue.stop()
        ((key, _),) = await store.list_keys("raw/v1/")
        assert [r.body for r in decode_object(await store.get(key))] == [b"k" * 200]
        await store.close()

    asyncio.run(scenario())


def test_queue_stopping_gives_up_after_its_attempts_and_counts_each_failure(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        blocker = tmp_path / "blobs"
        blocker.write_text("a file where the folder should be")  # every put fails
        store = LocalBlobStore(blocker)
        queue = ArchiveQueue(store, ArchiveConfig(object_max_age_s=60))
        await queue.start()
        await queue.submit(_request(body=b"k" * 200))
        errors_before = ARCHIVE_METRICS.write_errors._value.get()
        started = asyncio.get_running_loop().time()
        await queue.stop()  # waits 0.2 + 0.4 + 0.8 + 1.6 s between its attempts
        elapsed = asyncio.get_running_loop().time() - started
        assert ARCHIVE_METRICS.write_errors._value.get() - errors_before == STOP_ATTEMPTS
        assert 2.5 < elapsed < 10
        assert not blocker.is_dir()  # nothing written
        await store.close()

    asyncio.run(scenario())


def test_prune_deletes_hours_past_retention_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = LocalBlobStore(tmp_path)
        now = datetime(2026, 12, 10, 12, tzinfo=UTC)
        old = int((now - timedelta(days=8)).timestamp()) * 1_000_000_000
        recent = int((now - timedelta(days=6)).timestamp()) * 1_000_000_000
        for at in (old, recent):
            buffer = ArchiveBuffer(1 << 20, 60)
            buffer.add(_request(at=at))
            for pending in buffer.take():
                await write_object(store, pending)
        await store.put("media/other.bin", b"x", "application/octet-stream")
        deleted, size = await prune_archive(store, 7, now=now)
        assert deleted == 1 and size > 0
        left = [key for key, _ in await store.list_keys("")]
        assert len(left) == 2 and "media/other.bin" in left
        assert all("/2026/12/04/" in key for key in left if key.startswith("raw/"))
        await store.close()

    asyncio.run(scenario())
