"""``ArchiveBuffer``: accepted requests waiting to become archive objects, grouped by project
and hour, cut by size and age (docs/archive-format.md "Objects")."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from storage._pb.otelfuse.v1.records_pb2 import ArchivedRequest
from storage.archive.format import hour_of, object_key

__all__ = ["ArchiveBuffer", "PendingObject"]


@dataclass(slots=True)
class PendingObject:
    """The frames of one future object: ``key`` and the serialized requests in arrival order."""

    key: str
    frames: list[bytes] = field(default_factory=list)
    size: int = 0
    """Bytes of the frames (uncompressed)."""


class ArchiveBuffer:
    """Requests by (project, hour) until the whole buffer is cut (``take``).

    Args:
        max_bytes: ``due`` once the buffered frames reach this many bytes …
        max_age_s: … or this many seconds after the oldest buffered request was added.
    """

    def __init__(self, max_bytes: int, max_age_s: float) -> None:
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._objects: dict[tuple[str, int], PendingObject] = {}
        self._oldest: float | None = None
        self.size = 0
        """Bytes buffered (uncompressed frames)."""
        self.requests = 0
        """Requests buffered."""

    def add(self, request: ArchivedRequest) -> int:
        """Buffer ``request``; returns its frame size in bytes."""
        frame = request.SerializeToString()
        hour = int(hour_of(request.received_unix_nano).timestamp())
        slot = (request.project_id, hour)
        pending = self._objects.get(slot)
        if pending is None:
            key = object_key(request.project_id, request.received_unix_nano)
            pending = self._objects[slot] = PendingObject(key)
        pending.frames.append(frame)
        pending.size += len(frame)
        self.size += len(frame)
        self.requests += 1
        if self._oldest is None:
            self._oldest = time.monotonic()
        return len(frame)

    def due(self, now: float | None = None) -> bool:
        """True when the buffer should be cut: size or age reached."""
        if self._oldest is None:
            return False
        now = time.monotonic() if now is None else now
        return self.size >= self.max_bytes or now - self._oldest >= self.max_age_s

    def seconds_until_due(self) -> float | None:
        """Seconds until the age limit cuts the buffer, or None when it is empty."""
        if self._oldest is None:
            return None
        return max(0.0, self._oldest + self.max_age_s - time.monotonic())

    def take(self) -> list[PendingObject]:
        """Every pending object (sorted by key); the buffer is empty afterwards."""
        objects = sorted(self._objects.values(), key=lambda pending: pending.key)
        self._objects = {}
        self._oldest = None
        self.size = 0
        self.requests = 0
        return objects
