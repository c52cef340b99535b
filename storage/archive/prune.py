"""Retention of the raw archive: ``otelfuse archive prune --older-than-days N``
(docs/operations.md "Raw archive")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.archive.format import ROOT, parse_key
from storage.blobs.store import BlobStore

__all__ = ["prune_archive"]


async def prune_archive(
    store: BlobStore, older_than_days: int, now: datetime | None = None
) -> tuple[int, int]:
    """Delete every archive object whose hour ended more than ``older_than_days`` days before
    ``now``; returns ``(objects, bytes)`` deleted. Keys that are not archive keys are left."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=older_than_days)
    objects = size_total = 0
    for key, size in await store.list_keys(ROOT):
        parsed = parse_key(key)
        if parsed is None or parsed[1] + timedelta(hours=1) > cutoff:
            continue
        await store.delete(key)
        objects += 1
        size_total += size
    return objects, size_total
