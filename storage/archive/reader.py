"""``ArchiveReader``: the archived requests of one project and time range, in archive order,
each once (docs/archive-format.md "Reading")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from storage._pb.otelfuse.v1.records_pb2 import ArchivedRequest
from storage.archive.format import decode_object, hour_prefix, hours_between
from storage.blobs.store import BlobStore

__all__ = ["ArchiveObject", "ArchiveReader"]


@dataclass(slots=True)
class ArchiveObject:
    """One object: its key, compressed size, and the requests in the asked range that were not
    read before (``duplicates``: frames dropped because their request id was already read)."""

    key: str
    size: int
    requests: list[ArchivedRequest] = field(default_factory=list)
    duplicates: int = 0


class ArchiveReader:
    """Reads archive objects from ``store``.

    A request id seen once in a reader is skipped afterwards: an archiver killed after writing
    an object but before committing its offsets writes the same requests again into another
    object, and readers drop the repeats (docs/archive-format.md "Exactly once, as read").
    """

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self._seen: set[bytes] = set()

    async def list_objects(
        self, project_id: str, start: datetime, end: datetime
    ) -> list[tuple[str, int]]:
        """``(key, size)`` of every object of ``project_id`` in the hours from ``start`` to
        ``end``, in key order (hour, then UUIDv7 time)."""
        found: list[tuple[str, int]] = []
        for hour in hours_between(start, end):
            found.extend(await self.store.list_keys(hour_prefix(project_id, hour)))
        return found

    async def read_object(
        self, key: str, size: int, start_ns: int | None = None, end_ns: int | None = None
    ) -> ArchiveObject:
        """The requests of one object received in ``[start_ns, end_ns)`` (all when None),
        by receive time, without those already read.

        Raises:
            PermanentError: the object is not a valid archive object; what ``store.get`` raises.
        """
        data = await self.store.get(key)
        requests = await asyncio.to_thread(lambda: list(decode_object(data)))
        requests.sort(key=lambda request: request.received_unix_nano)
        result = ArchiveObject(key, size)
        for request in requests:
            received = request.received_unix_nano
            if (start_ns is not None and received < start_ns) or (
                end_ns is not None and received >= end_ns
            ):
                continue
            if request.request_id in self._seen:
                result.duplicates += 1
                continue
            self._seen.add(request.request_id)
            result.requests.append(request)
        return result

    async def requests(
        self, project_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[ArchivedRequest]:
        """Every request of ``project_id`` received in ``[start, end)``, each once."""
        start_ns, end_ns = _ns(start), _ns(end)
        for key, size in await self.list_objects(project_id, start, end):
            for request in (await self.read_object(key, size, start_ns, end_ns)).requests:
                yield request


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
