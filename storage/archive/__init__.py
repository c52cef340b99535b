"""The raw request archive (docs/archive-format.md): every accepted OTLP export, Langfuse
ingestion batch and score request, as received, in zstd-compressed objects of the blob store
laid out ``raw/v1/{project}/{yyyy}/{mm}/{dd}/{hh}/{uuid}.zst``.

- ``format``: the framing (``encode_object`` / ``decode_object``) and the key layout;
- ``buffer``: ``ArchiveBuffer``, requests grouped by project and hour, cut into objects by size
  and age;
- ``queue``: ``ArchiveQueue``, the all-in-one's bounded buffer with its background flusher;
- ``reader``: ``ArchiveReader``, the objects and requests of a project and time range, each
  request once;
- ``prune``: retention (``otelfuse archive prune``).
"""

from __future__ import annotations

from storage._pb.otelfuse.v1.records_pb2 import ArchivedRequest
from storage.archive.config import ArchiveConfig

__all__ = ["ArchiveConfig", "ArchivedRequest"]
