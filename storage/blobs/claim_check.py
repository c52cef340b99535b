"""Oversized observation fields in the blob store: the claim check (docs/architecture.md
"Oversized fields").

Write side (``offload_records``, called by the receivers before they publish or queue): an
``input``, ``output`` or ``metadata`` value of an observation record, or of its trace fields,
longer than ``OffloadConfig.offload_bytes`` in UTF-8 is written to the blob store and replaced
by a *reference string*::

    @@@otelfuseBlob:key=fields/<h>/<sha256>|bytes=<n>@@@<preview>

``<h>`` is the first 32 hex digits of the SHA-256 of the trace id (trace ids of the ingestion
API are free text; hashing keeps keys within ``storage.blobs.store.check_key``), ``<sha256>``
the hex SHA-256 of the value's UTF-8 bytes, ``<n>`` their length and ``<preview>`` the first
``PREVIEW_CHARS`` characters of the value. The blob key is ``<projectId>/`` + the key of the
reference, so every blob lives under its project and all blobs of one trace under one prefix
(``trace_prefix``: deleting a trace deletes that prefix). A record whose fields are each below
the threshold but which is still larger than ``max_record_bytes`` in total (for example many
large metadata keys) has its largest fields offloaded until it fits, so no record below the
request limit is refused for its size. The idea and the 2 MiB figure of its Langfuse
counterpart: Langfuse ``worker/src/features/observation-field-overflow/``
(``LANGFUSE_OBSERVATION_FIELD_SIZE_LIMIT_BYTES``).

The reference is a string in the field itself rather than a separate proto field: the
ingestion merges, the GenAI log folds and ``ReplacingMergeTree`` dedup then treat it as any
other value (a later update replaces it, a resend writes the same string), and no column or
wire change is needed. A user value that happens to look like a reference is harmless: reads
resolve keys only under the caller's project and only when the blob's SHA-256 matches.

Read side (``FieldResolver.resolve``, called by the read routes after shaping a response):
references at the known positions (``input``, ``output``, each ``metadata`` value; the items of
``data``, ``observations``) are replaced by the decoded original value, fetched from the blob
store and checked against the SHA-256 in the key. At most ``OffloadConfig.resolve_max_bytes``
are resolved per response (the first reference always is); the rest keep their reference
string with its preview, which the single-object routes (``/observations/{id}``) resolve.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from storage.blobs.config import MAX_REFERENCE_BYTES, PREVIEW_CHARS, OffloadConfig
from storage.blobs.store import BlobNotFound, BlobStore
from storage.nesting import text_deeper_than
from storage.records import ObservationRecord

__all__ = [
    "MARKER",
    "PREVIEW_CHARS",
    "FieldResolver",
    "OffloadConfig",
    "Reference",
    "offload_records",
    "parse_reference",
    "trace_prefix",
]

log = logging.getLogger(__name__)

MARKER = "@@@otelfuseBlob:"
"""Start of every reference string."""


CONTENT_TYPE = "text/plain; charset=utf-8"
"""Content type of an offloaded field's blob (its UTF-8 text)."""

_REFERENCE = re.compile(
    r"^@@@otelfuseBlob:key=(fields/[0-9a-f]{32}/([0-9a-f]{64}))\|bytes=(\d{1,12})@@@"
)


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference string: the blob key relative to the project, the value's SHA-256
    (hex) and its size in UTF-8 bytes."""

    key: str
    sha256: str
    size: int


def parse_reference(value: object) -> Reference | None:
    """The reference ``value`` holds, or None when it is not a reference string."""
    if not isinstance(value, str) or not value.startswith(MARKER):
        return None
    found = _REFERENCE.match(value)
    if found is None or len(value) - found.end() != PREVIEW_CHARS:
        return None  # not a reference, or one cut short (a truncated metadata preview)
    return Reference(found.group(1), found.group(2), int(found.group(3)))


def _trace_folder(trace_id: str) -> str:
    """``fields/<h>/``: the folder of a trace's offloaded fields, relative to the project."""
    return f"fields/{hashlib.sha256(trace_id.encode()).hexdigest()[:32]}/"


def trace_prefix(project_id: str, trace_id: str) -> str:
    """The blob key prefix (with trailing ``/``) holding every offloaded field of a trace."""
    return f"{project_id}/{_trace_folder(trace_id)}"


def _reference(trace_id: str, data: bytes, text: str) -> tuple[str, str]:
    """``(key relative to the project, reference string)`` of one value."""
    key = _trace_folder(trace_id) + hashlib.sha256(data).hexdigest()
    return key, f"{MARKER}key={key}|bytes={len(data)}@@@{text[:PREVIEW_CHARS]}"


class _Slot:
    """One offloadable value of a record: where it is, and how to replace it."""

    __slots__ = ("container", "name", "size", "text")

    def __init__(self, container: Any, name: str, text: str, size: int) -> None:
        self.container = container
        self.name = name
        self.text = text
        self.size = size

    def replace(self, value: str) -> None:
        if self.name.startswith("metadata:"):
            self.container[self.name.removeprefix("metadata:")] = value
        else:
            setattr(self.container, self.name, value)


def _slots(record: ObservationRecord) -> list[_Slot]:
    """The offloadable values of ``record`` that are set and not references yet."""
    slots: list[_Slot] = []
    holders: list[Any] = [record]
    if record.HasField("trace"):
        holders.append(record.trace)
    for holder in holders:
        for name in ("input", "output"):
            if holder.HasField(name):
                text = getattr(holder, name)
                if len(text) > PREVIEW_CHARS and parse_reference(text) is None:
                    size = len(text.encode())
                    if size > MAX_REFERENCE_BYTES:
                        slots.append(_Slot(holder, name, text, size))
        for key, text in holder.metadata.items():
            if len(text) > PREVIEW_CHARS and parse_reference(text) is None:
                size = len(text.encode())
                if size > MAX_REFERENCE_BYTES:
                    slots.append(_Slot(holder.metadata, f"metadata:{key}", text, size))
    return slots


async def offload_records(
    records: Sequence[ObservationRecord],
    store: BlobStore,
    config: OffloadConfig,
    max_record_bytes: int,
    encoded: list[bytes] | None = None,
) -> tuple[int, int]:
    """Replace the oversized fields of ``records`` (in place) by references, after writing
    their values to ``store``; returns the number of fields offloaded and their bytes.

    ``encoded``: the records' serializations (``SerializeToString``, one per record, in order),
    when the caller hands them on (``ingest.offload.OffloadingSink``); the records are then
    sized by them instead of ``ByteSize`` (which encodes the record to count its bytes), and
    the entry of every record changed here is replaced by its new serialization.

    Every blob is written before this returns, so a reference is never handed on for a blob
    that was not stored. ``max_record_bytes``: after the per-field threshold, the largest
    remaining fields of a record still larger than this are offloaded too.

    Raises:
        RetryableError, PermanentError: a blob could not be written; no record should then be
            published (the client resends; what was written is overwritten with the same bytes).
    """
    uploads: dict[str, tuple[str, bytes]] = {}  # full key -> (project id, data)
    count = size = 0
    # A field's UTF-8 bytes are part of its record's encoding, so a record no larger than both
    # limits has nothing to offload; its size (``encoded``, else ``ByteSize``, C) is cheaper
    # than looking at its fields.
    small = min(config.offload_bytes, max_record_bytes)
    for index, record in enumerate(records):
        record_bytes = record.ByteSize() if encoded is None else len(encoded[index])
        if record_bytes <= small:
            continue
        slots = _slots(record)
        if not slots:
            continue
        trace_id = record.trace_id or record.id
        chosen = [s for s in slots if s.size > config.offload_bytes]
        rest = sorted((s for s in slots if s.size <= config.offload_bytes), key=lambda s: -s.size)
        excess = record_bytes - sum(s.size - MAX_REFERENCE_BYTES for s in chosen)
        for slot in rest:
            if excess <= max_record_bytes:
                break
            chosen.append(slot)
            excess -= slot.size - MAX_REFERENCE_BYTES
        for slot in chosen:
            data = slot.text.encode()
            key, reference = _reference(trace_id, data, slot.text)
            uploads[f"{record.project_id}/{key}"] = (record.project_id, data)
            slot.replace(reference)
            count += 1
            size += len(data)
        if chosen and encoded is not None:
            encoded[index] = record.SerializeToString()
    if uploads:
        await asyncio.gather(
            *(store.put(key, data, CONTENT_TYPE) for key, (_, data) in uploads.items())
        )
    return count, size


def _decode(text: str) -> Any:
    """As ``storage.query.shapes.decode_json_text``: JSON when it parses, else the text."""
    try:
        decoded = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return text if text_deeper_than(text, decoded) else decoded


class FieldResolver:
    """Resolves references in read responses (module docstring) from ``store``."""

    def __init__(self, store: BlobStore, config: OffloadConfig) -> None:
        self.store = store
        self.config = config

    async def resolve(self, project_id: str, response: Any, *, parse_json: bool = True) -> int:
        """Replace, in place, the references in ``response`` (a shaped JSON value: a dict with
        ``data`` or ``observations`` lists, or one item) by their original values, within
        ``resolve_max_bytes``; returns the number of values resolved. ``parse_json``: values
        are JSON-decoded when they parse (as ``storage.query.shapes.decode_json_text``; v1
        shapes), else given as the stored text (v2 observations).

        A reference whose blob is missing or does not match its SHA-256 is left as it is (and
        logged).

        Raises:
            RetryableError: the blob store is unavailable (the route answers 503).
        """
        found: list[tuple[Any, Any, Reference]] = []
        _collect(response, found)
        if not found:
            return 0
        spent = 0
        wanted: dict[str, tuple[Reference, list[tuple[Any, Any]]]] = {}  # key -> places
        for container, name, ref in found:
            if ref.key in wanted:  # the same value twice (a root span and its trace): one read
                wanted[ref.key][1].append((container, name))
                continue
            if wanted and spent + ref.size > self.config.resolve_max_bytes:
                continue
            wanted[ref.key] = (ref, [(container, name)])
            spent += ref.size
        refs = [ref for ref, _ in wanted.values()]
        texts = await asyncio.gather(*(self._fetch(project_id, ref) for ref in refs))
        resolved = 0
        for (_, places), text in zip(wanted.values(), texts, strict=True):
            if text is None:
                continue
            value = _decode(text) if parse_json else text
            for container, name in places:
                container[name] = value
                resolved += 1
        return resolved

    async def _fetch(self, project_id: str, ref: Reference) -> str | None:
        try:
            data = await self.store.get(f"{project_id}/{ref.key}")
        except BlobNotFound:
            log.warning("offloaded field %s of project %s is missing", ref.key, project_id)
            return None
        if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
            log.warning("offloaded field %s of project %s does not match", ref.key, project_id)
            return None
        return data.decode()


_LISTS = ("data", "observations")


def _collect(value: Any, found: list[tuple[Any, Any, Reference]]) -> None:
    """References at the known positions of a shaped response, as (container, key, ref)."""
    if isinstance(value, list):
        for item in value:
            _collect(item, found)
        return
    if not isinstance(value, dict):
        return
    for name in ("input", "output"):
        ref = parse_reference(value.get(name))
        if ref is not None:
            found.append((value, name, ref))
    metadata = value.get("metadata")
    if isinstance(metadata, dict):
        for key, item in metadata.items():
            ref = parse_reference(item)
            if ref is not None:
                found.append((metadata, key, ref))
    for name in _LISTS:
        if isinstance(value.get(name), list):
            _collect(value[name], found)
