"""Both blob stores behave alike (``storage.blobs.store.BlobStore``): the local folder store
and the S3 store against a real SeaweedFS (docs/reference/test-services.md §9), including a
presigned PUT sent with the headers the Langfuse SDK sends (langfuse-python
``langfuse/_task_manager/media_manager.py``: ``Content-Type``, ``x-amz-checksum-sha256``,
``x-ms-blob-type``)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from storage.blobs import BlobNotFound, BlobStore, LocalBlobStore, S3Config
from storage.blobs.s3 import S3BlobStore
from storage.errors import BadRequest, PermanentError, RetryableError
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, SeaweedFS
from tests.support.service import free_port

T = TypeVar("T")


def run(coro: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro()

    return asyncio.run(main())


def _s3(server: SeaweedFS, bucket: str, prefix: str = "") -> S3BlobStore:
    return S3BlobStore(
        S3Config(
            endpoint=server.endpoint,
            bucket=bucket,
            prefix=prefix,
            region=REGION,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
        )
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.service)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    blobs: BlobStore
    if request.param == "local":
        blobs = LocalBlobStore(tmp_path / "blobs")
    else:
        server: SeaweedFS = request.getfixturevalue("s3_server")
        blobs = _s3(server, f"t-{uuid.uuid4().hex[:12]}", prefix="media/")
    assert run(blobs.ensure_bucket) is True
    assert run(blobs.ensure_bucket) is False
    yield blobs
    run(blobs.close)


def test_list_keys_under_a_prefix(store: BlobStore) -> None:
    async def body() -> None:
        for key in ("raw/v1/p/2026/12/03/10/b.zst", "raw/v1/p/2026/12/03/10/a.zst", "other/x"):
            await store.put(key, b"12345", "application/zstd")
        assert await store.list_keys("raw/v1/p/2026/12/03/10/") == [
            ("raw/v1/p/2026/12/03/10/a.zst", 5),
            ("raw/v1/p/2026/12/03/10/b.zst", 5),
        ]
        assert await store.list_keys("raw/v1/q/") == []
        assert [key for key, _ in await store.list_keys("")] == [
            "other/x",
            "raw/v1/p/2026/12/03/10/a.zst",
            "raw/v1/p/2026/12/03/10/b.zst",
        ]

    run(body)


def test_put_get_stat_delete(store: BlobStore) -> None:
    data = os.urandom(300_000)

    async def body() -> None:
        await store.put("proj-a/abc.png", data, "image/png")
        assert await store.get("proj-a/abc.png") == data
        info = await store.stat("proj-a/abc.png")
        assert info is not None and info.size == len(data)
        assert await store.stat("proj-a/missing.png") is None
        with pytest.raises(BlobNotFound):
            await store.get("proj-a/missing.png")
        await store.delete("proj-a/abc.png")
        await store.delete("proj-a/abc.png")  # twice is fine
        assert await store.stat("proj-a/abc.png") is None

    run(body)


@pytest.mark.parametrize("key", ["", "/etc/passwd", "a/../b", "../b", "a//b", "a/./b", "a b"])
def test_bad_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(BadRequest):
        run(lambda: store.put(key, b"x", "text/plain"))


def test_local_files_are_private_and_atomic(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a" * 10
        yield b"b" * 10

    def refuse(size: int, digest: bytes) -> None:
        assert size == 20
        assert digest == hashlib.sha256(b"a" * 10 + b"b" * 10).digest()
        raise BadRequest("sha256 mismatch")

    async def body() -> None:
        await blobs.put("p/one.txt", b"hello", "text/plain")
        with pytest.raises(BadRequest):
            await blobs.put_stream("p/two.txt", chunks(), refuse)
        assert await blobs.put_stream("p/three.txt", chunks()) == 20
        await blobs.close()

    run(body)
    path = tmp_path / "blobs" / "p" / "one.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "blobs").stat().st_mode) == 0o700
    assert not (tmp_path / "blobs" / "p" / "two.txt").exists()
    assert sorted(p.name for p in (tmp_path / "blobs" / "p").iterdir()) == ["one.txt", "three.txt"]


def test_presigned_put_with_the_sdk_headers(s3_server: SeaweedFS) -> None:
    blobs = _s3(s3_server, f"t-{uuid.uuid4().hex[:12]}")
    data = os.urandom(50_000)
    checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
    headers = {
        "Content-Type": "image/png",
        "x-ms-blob-type": "BlockBlob",
        "x-amz-checksum-sha256": checksum,
    }

    async def body() -> None:
        await blobs.ensure_bucket()
        url = await blobs.presign_put("p/img.png", "image/png", timedelta(minutes=5))
        assert url is not None
        async with httpx.AsyncClient() as http:
            wrong = {**headers, "x-amz-checksum-sha256": base64.b64encode(b"x" * 32).decode()}
            refused = await http.put(url, content=data, headers=wrong)
            assert refused.status_code == 400, refused.text
            assert await blobs.stat("p/img.png") is None
            stored = await http.put(url, content=data, headers=headers)
            assert stored.status_code == 200, stored.text
            info = await blobs.stat("p/img.png")
            assert info is not None and (info.size, info.content_type) == (len(data), "image/png")
            get_url = await blobs.presign_get("p/img.png", timedelta(minutes=5))
            assert get_url is not None
            fetched = await http.get(get_url)
        assert hashlib.sha256(fetched.content).digest() == hashlib.sha256(data).digest()
        await blobs.close()

    run(body)


def test_s3_down_is_retryable_and_missing_bucket_permanent(s3_server: SeaweedFS) -> None:
    down = S3BlobStore(
        S3Config(
            endpoint=f"http://127.0.0.1:{free_port()}",
            region=REGION,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
        )
    )
    missing = _s3(s3_server, f"absent-{uuid.uuid4().hex[:8]}")

    async def body() -> None:
        with pytest.raises(RetryableError):
            await down.put("p/x.txt", b"x", "text/plain")
        assert await down.health() is not None
        with pytest.raises(PermanentError):  # SeaweedFS: AccessDenied, AWS: NoSuchBucket
            await missing.put("p/x.txt", b"x", "text/plain")
        assert "migrate" in (await missing.health() or "")
        await down.close()
        await missing.close()

    run(body)


def test_delete_prefix_removes_only_that_folder(store: BlobStore) -> None:
    async def body() -> None:
        for key in ("p/fields/aa/1", "p/fields/aa/2", "p/fields/ab/1", "q/fields/aa/1"):
            await store.put(key, key.encode(), "text/plain")
        assert await store.delete_prefix("p/fields/aa/") == 2
        assert await store.stat("p/fields/aa/1") is None
        assert await store.stat("p/fields/aa/2") is None
        assert await store.get("p/fields/ab/1") == b"p/fields/ab/1"
        assert await store.get("q/fields/aa/1") == b"q/fields/aa/1"
        assert await store.delete_prefix("p/fields/aa/") == 0
        with pytest.raises(BadRequest):
            await store.delete_prefix("p/fields/ab")

    run(body)
