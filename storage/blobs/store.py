"""The blob store protocol: what media uploads (and later oversized fields) need from object
storage, with two implementations (``storage.blobs.local``, ``storage.blobs.s3``).

Keys are ``/``-separated relative paths (``<projectId>/<mediaId>.<ext>``, as Langfuse's
``getBucketPath`` in ``web/src/features/media/server/mediaService.ts``); a store adds its own
prefix or folder. Failures are the two storage error classes (``storage.errors``): the store is
unreachable or answers 5xx -> ``RetryableError`` (the edge answers 503 / UNAVAILABLE, see
``ingest/errors.py``); it refuses the request -> ``PermanentError``; a missing key ->
``BlobNotFound``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from storage.errors import BadRequest, NotFound

__all__ = ["BlobInfo", "BlobNotFound", "BlobStore", "check_key"]

_KEY = re.compile(r"^(?!.*(?:^|/)\.{1,2}(?:/|$))[A-Za-z0-9][A-Za-z0-9._:/=-]{0,511}$")
"""Accepted keys: letters, digits, ``._:/=-`` (project ids may hold ``:``); no ``.`` or ``..``
segment, no leading ``/``."""


class BlobNotFound(NotFound):
    """No blob under that key."""


def check_key(key: str) -> str:
    """``key`` when it is an acceptable blob key (``_KEY``).

    Raises:
        BadRequest: the key is empty, too long, absolute, has a ``.``/``..`` segment or another
            character.
    """
    if not _KEY.match(key) or "//" in key:
        raise BadRequest(f"invalid blob key {key[:100]!r}")
    return key


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What a store knows about one blob: its size in bytes and content type."""

    size: int
    content_type: str


class BlobStore(Protocol):
    """Object storage for blobs; every method may be awaited from the event loop (blocking I/O
    runs in the store's bounded worker pool)."""

    kind: str
    """``local`` or ``s3`` (for logs and metrics)."""

    async def ensure_bucket(self) -> bool:
        """Create the bucket (or folder) when missing; True when it was created."""
        ...

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (replacing a blob there)."""
        ...

    async def get(self, key: str) -> bytes:
        """The blob's bytes. Raises ``BlobNotFound``."""
        ...

    async def stat(self, key: str) -> BlobInfo | None:
        """Size and content type of the blob, or None when there is none."""
        ...

    async def list_keys(self, prefix: str) -> list[tuple[str, int]]:
        """``(key, size in bytes)`` of every blob whose key starts with ``prefix`` (a folder
        path ending in ``/``), sorted by key; empty when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob (nothing happens when there is none)."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every blob whose key starts with ``prefix`` (a folder: ends with ``/``);
        returns how many were removed."""
        ...

    async def presign_put(self, key: str, content_type: str, expires: timedelta) -> str | None:
        """A URL a client may PUT the blob to until ``expires`` from now, or None when the store
        has no such URLs (the local store: otelfuse serves the upload itself)."""
        ...

    async def presign_get(self, key: str, expires: timedelta) -> str | None:
        """A URL a client may GET the blob from until ``expires`` from now, or None (as
        ``presign_put``)."""
        ...

    async def health(self) -> str | None:
        """None when the store answers, else the reason."""
        ...

    async def close(self) -> None:
        """Release threads and connections (safe twice)."""
        ...
