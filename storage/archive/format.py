"""The archive's object format and key layout, version 1 (docs/archive-format.md).

An object is ONE zstd frame (with content checksum) whose content is::

    magic  b"OFRA"            4 bytes
    version                   2 bytes, big-endian unsigned (1)
    frame*                    until the end:
        length                4 bytes, big-endian unsigned: size of the payload
        payload               an ``otelfuse.v1.ArchivedRequest`` (proto/otelfuse/v1/records.proto)

Keys: ``raw/v1/{project_id}/{yyyy}/{mm}/{dd}/{hh}/{uuid}.zst``, the hour (UTC) of the requests'
receive time, and a UUIDv7 (RFC 9562 §5.7) whose time is the first request's receive time, so
the keys of one hour sort in the order their objects were started.
"""

from __future__ import annotations

import os
import re
import struct
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import zstandard
from google.protobuf.message import DecodeError

from storage._pb.otelfuse.v1.records_pb2 import ArchivedRequest
from storage.errors import PermanentError

__all__ = [
    "CONTENT_TYPE",
    "FORMAT_VERSION",
    "MAGIC",
    "ROOT",
    "decode_object",
    "encode_object",
    "hour_of",
    "hour_prefix",
    "hours_between",
    "object_key",
    "parse_key",
    "uuid7",
]

MAGIC = b"OFRA"
FORMAT_VERSION = 1
ROOT = "raw/v1/"
"""Key prefix of every archive object of this format version."""
CONTENT_TYPE = "application/zstd"
_HEADER = MAGIC + struct.pack(">H", FORMAT_VERSION)
_LENGTH = struct.Struct(">I")
_KEY = re.compile(
    r"^raw/v1/(?P<project>[^/]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/"
    r"(?P<uuid>[0-9a-f-]{36})\.zst$"
)
_LEVEL = 3


def encode_object(frames: Sequence[bytes]) -> bytes:
    """Compress serialized ``ArchivedRequest`` messages into one archive object."""
    parts = [_HEADER]
    for frame in frames:
        parts.append(_LENGTH.pack(len(frame)))
        parts.append(frame)
    raw = b"".join(parts)
    compressor = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True)
    return compressor.compress(raw)


def decode_object(data: bytes) -> Iterator[ArchivedRequest]:
    """The requests of one archive object, in the order they were written.

    Raises:
        PermanentError: not a zstd frame, a checksum mismatch, another magic or version, or a
            truncated or undecodable frame.
    """
    try:
        raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 34)
    except zstandard.ZstdError as exc:
        raise PermanentError(f"archive object is not valid zstd: {exc}") from None
    if raw[:4] != MAGIC:
        raise PermanentError("archive object without the OFRA magic")
    (version,) = struct.unpack(">H", raw[4:6])
    if version != FORMAT_VERSION:
        raise PermanentError(f"archive object version {version}; this reader knows 1")
    offset = len(_HEADER)
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise PermanentError("archive object truncated in a frame length")
        (size,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise PermanentError("archive object truncated in a frame")
        request = ArchivedRequest()
        try:
            request.ParseFromString(raw[offset : offset + size])
        except DecodeError as exc:
            raise PermanentError(f"undecodable archive frame: {exc}") from None
        offset += size
        yield request


def hour_of(unix_nano: int) -> datetime:
    """The UTC hour holding ``unix_nano``."""
    moment = datetime.fromtimestamp(unix_nano / 1e9, UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def hour_prefix(project_id: str, hour: datetime) -> str:
    """``raw/v1/{project}/{yyyy}/{mm}/{dd}/{hh}/``."""
    return f"{ROOT}{project_id}/{hour:%Y/%m/%d/%H}/"


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Every UTC hour from the hour of ``start`` up to the hour of ``end`` (inclusive)."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= end.astimezone(UTC):
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


_last_uuid7 = [0, 0]  # [ms, counter] of the last UUIDv7 made by this process
_uuid7_lock = threading.Lock()


def uuid7(unix_nano: int) -> str:
    """A UUIDv7 text (RFC 9562 §5.7): 48-bit Unix ms, a 12-bit counter in ``rand_a`` (§6.2
    method 1, so UUIDs made in one process sort in the order they were made, even within one
    millisecond or when ``unix_nano`` goes back), version 7, 62 random bits."""
    with _uuid7_lock:
        ms, counter = max(unix_nano // 1_000_000, _last_uuid7[0]), 0
        if ms == _last_uuid7[0]:
            counter = _last_uuid7[1] + 1
            if counter > 0xFFF:
                ms, counter = ms + 1, 0
        _last_uuid7[:] = [ms, counter]
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0x2 << 62  # variant 10
    value |= int.from_bytes(os.urandom(8), "big") >> 2
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def object_key(project_id: str, first_unix_nano: int) -> str:
    """A new object's key for requests of ``project_id`` in the hour of ``first_unix_nano``."""
    return f"{hour_prefix(project_id, hour_of(first_unix_nano))}{uuid7(first_unix_nano)}.zst"


def parse_key(key: str) -> tuple[str, datetime] | None:
    """``(project_id, hour)`` of an archive key, or None when ``key`` is not one."""
    found = _KEY.match(key)
    if found is None:
        return None
    hour = datetime(int(found["y"]), int(found["m"]), int(found["d"]), int(found["h"]), tzinfo=UTC)
    return found["project"], hour
