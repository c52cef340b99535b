"""``LocalBlobStore``: blobs as files under one folder (``OTELFUSE_DATA_DIR/blobs``), the
all-in-one default.

Each blob is the file ``<folder>/<key>`` with mode 0600 (folders 0700): media can hold
personal data, so only otelfuse's user reads it. A write goes to a temporary file in the target
folder and is renamed over the key once complete, so a reader never sees half a blob and a
failed or refused upload leaves nothing behind (POSIX ``rename`` is atomic within a file
system). The content type is not kept (the media records in PostgreSQL hold it).

Blocking file I/O runs in a small worker pool of its own (``max_workers``), so a slow disk never
blocks the event loop and never exhausts the loop's default executor. Disk failures are
``RetryableError`` (a full disk may be freed), a missing file is ``BlobNotFound``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO, TypeVar

from storage.blobs.store import BlobInfo, BlobNotFound, check_key
from storage.blobs.telemetry import BLOB_METRICS
from storage.errors import BadRequest, RetryableError

__all__ = ["LocalBlobStore"]

T = TypeVar("T")
_KIND = "local"
_FILE_MODE = 0o600
_DIR_MODE = 0o700


@contextlib.contextmanager
def _disk_errors(action: str, key: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise BlobNotFound(f"no blob {key}") from None
    except OSError as exc:
        raise RetryableError(f"local blob store: {action} {key} failed: {exc}") from exc


class LocalBlobStore:
    """Blobs under ``folder`` (``storage.blobs.store.BlobStore``)."""

    kind = _KIND

    def __init__(self, folder: Path, *, max_workers: int = 4) -> None:
        self.folder = folder
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="otelfuse-blobs"
        )

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    def path(self, key: str) -> Path:
        """The file of ``key`` (which need not exist).

        Raises:
            BadRequest: ``key`` is not an acceptable blob key.
        """
        return self.folder / check_key(key)

    async def ensure_bucket(self) -> bool:
        """Create the folder (mode 0700) when missing; True when it was created."""
        with BLOB_METRICS.measure(_KIND, "ensure_bucket"), _disk_errors("creating", "folder"):
            existed = self.folder.is_dir()
            self.folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            return not existed

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write ``data`` as the file of ``key`` (atomically, mode 0600)."""

        async def chunks() -> AsyncIterable[bytes]:
            yield data

        await self.put_stream(key, chunks())

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        verify: Callable[[int, bytes], None] | None = None,
    ) -> int:
        """Write the chunks as the file of ``key``; returns its size in bytes.

        ``verify(size, sha256_digest)`` is called once every chunk is on disk and before the
        file becomes visible under ``key``; whatever it raises aborts the write (nothing is
        stored) and propagates, as does any exception of ``chunks``.

        Raises:
            RetryableError: the disk refused the write.
        """
        target = self.path(key)
        with BLOB_METRICS.measure(_KIND, "put"):
            with _disk_errors("creating the folder of", key):
                await self._run(_make_dirs, target.parent, self.folder)
            with _disk_errors("opening a temporary file for", key):
                handle, temp_name = await self._run(_temp_file, target.parent)
            temp = Path(temp_name)
            digest = hashlib.sha256()
            size = 0
            try:
                with _disk_errors("writing", key):
                    async for chunk in chunks:
                        size += len(chunk)
                        digest.update(chunk)
                        await self._run(handle.write, chunk)
                    await self._run(_flush, handle)
                handle.close()
                if verify is not None:
                    verify(size, digest.digest())
                with _disk_errors("renaming", key):
                    await self._run(os.replace, temp, target)
            except BaseException:
                handle.close()
                temp.unlink(missing_ok=True)
                raise
            BLOB_METRICS.written(_KIND, size)
            return size

    async def get(self, key: str) -> bytes:
        """The file's bytes. Raises ``BlobNotFound``, ``RetryableError``."""
        with BLOB_METRICS.measure(_KIND, "get"), _disk_errors("reading", key):
            data = await self._run(self.path(key).read_bytes)
        BLOB_METRICS.read(_KIND, len(data))
        return data

    async def stat(self, key: str) -> BlobInfo | None:
        """The file's size (content type ``application/octet-stream``: not kept here)."""
        with BLOB_METRICS.measure(_KIND, "stat"):
            try:
                with _disk_errors("reading", key):
                    info = await self._run(self.path(key).stat)
            except BlobNotFound:
                return None
        return BlobInfo(info.st_size, "application/octet-stream")

    async def list_keys(self, prefix: str) -> list[tuple[str, int]]:
        """Files under the folder ``prefix`` (temporary upload files left out), sorted."""
        with BLOB_METRICS.measure(_KIND, "list"), _disk_errors("listing", prefix):
            return await self._run(self._list, prefix)

    def _list(self, prefix: str) -> list[tuple[str, int]]:
        base = self.folder / check_key(prefix.rstrip("/")) if prefix.strip("/") else self.folder
        found: list[tuple[str, int]] = []
        for root, _, files in os.walk(base):
            for name in files:
                if name.startswith(".upload-"):
                    continue
                path = Path(root) / name
                with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                    found.append((path.relative_to(self.folder).as_posix(), path.stat().st_size))
        return sorted(found)

    async def delete(self, key: str) -> None:
        """Remove the file (none is fine)."""
        with BLOB_METRICS.measure(_KIND, "delete"), _disk_errors("deleting", key):
            await self._run(functools.partial(self.path(key).unlink, missing_ok=True))

    async def delete_prefix(self, prefix: str) -> int:
        """Remove the folder ``prefix`` (ends with ``/``) and the files in it."""
        if not prefix.endswith("/"):
            raise BadRequest("a blob prefix ends with /")
        folder = self.path(prefix.rstrip("/"))
        with BLOB_METRICS.measure(_KIND, "delete"), _disk_errors("deleting", prefix):
            return await self._run(_remove_tree, folder)

    async def presign_put(self, key: str, content_type: str, expires: timedelta) -> str | None:
        """None: uploads go through otelfuse (``ingest.api.media``)."""
        return None

    async def presign_get(self, key: str, expires: timedelta) -> str | None:
        """None: downloads go through otelfuse (``ingest.api.media``)."""
        return None

    async def health(self) -> str | None:
        """None when the folder exists and is writable."""
        ok = await self._run(os.access, self.folder, os.W_OK | os.X_OK)
        return None if ok else f"blob folder {self.folder} is not writable"

    async def close(self) -> None:
        """Stop the worker threads (safe twice)."""
        self._pool.shutdown(wait=True)


def _remove_tree(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    count = sum(1 for path in folder.rglob("*") if path.is_file())
    shutil.rmtree(folder)
    return count


def _make_dirs(parent: Path, root: Path) -> None:
    root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)


def _temp_file(folder: Path) -> tuple[IO[bytes], str]:
    fd, name = tempfile.mkstemp(dir=folder, prefix=".upload-")  # mode 0600
    return os.fdopen(fd, "wb"), name


def _flush(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())
