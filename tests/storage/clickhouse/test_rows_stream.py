"""``rows.observation_stream``: length-delimited ``ObservationRow`` messages (ClickHouse's
``Protobuf`` format) read back field by field, for record sizes on both sides of every varint
width the encoder special-cases (https://protobuf.dev/programming-guides/encoding/)."""

from __future__ import annotations

import struct

from google.protobuf.internal.decoder import _DecodeVarint  # type: ignore[attr-defined]

from storage.clickhouse.rows import observation_stream

SIZES = [0, 1, 127, 128, 129, 16_363, 16_364, 16_365, 16_383, 16_384, 20_000, 2_100_000]


def _read(stream: bytes) -> list[tuple[bytes, int, int]]:
    rows = []
    pos = 0
    while pos < len(stream):
        size, pos = _DecodeVarint(stream, pos)
        end = pos + size
        assert stream[pos] == 0x0A  # field 1, length-delimited
        length, pos = _DecodeVarint(stream, pos + 1)
        data = stream[pos : pos + length]
        pos += length
        tag_hash, digest, tag_created, created = struct.unpack_from("<BQBq", stream, pos)
        assert (tag_hash, tag_created) == (0x11, 0x19)
        pos += 18
        assert pos == end
        rows.append((data, digest, created))
    return rows


def test_rows_read_back_at_every_length_boundary() -> None:
    serialized = [bytes(i % 251 for i in range(n)) for n in SIZES]
    hashes = [2**64 - 1 - i for i in range(len(SIZES))]
    created = [-5 + i * 1_000_003 for i in range(len(SIZES))]
    stream = observation_stream(serialized, hashes, created)
    assert _read(stream) == list(zip(serialized, hashes, created, strict=True))
