"""The receivers' claim check sink (``ingest.offload.OffloadingSink``): what it hands on."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

from ingest.offload import OffloadingSink
from storage.blobs import LocalBlobStore
from storage.blobs.claim_check import parse_reference
from storage.blobs.config import OffloadConfig
from storage.records import ObservationRecord

CONFIG = OffloadConfig(offload_bytes=16 * 1024, resolve_max_bytes=1_000_000)


class Plain:
    """A ``RecordSink`` that keeps what it was handed."""

    def __init__(self) -> None:
        self.handed: list[list[ObservationRecord]] = []

    def has_room(self, records: int = 1) -> bool:
        return True

    async def submit(self, records: Sequence[ObservationRecord]) -> Mapping[int, str]:
        self.handed.append(list(records))
        return {}


class Encoded(Plain):
    """An ``EncodedRecordSink`` that keeps the encodings it was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.encodings: list[list[bytes]] = []

    async def submit_encoded(
        self, records: Sequence[ObservationRecord], encoded: Sequence[bytes] | None
    ) -> Mapping[int, str]:
        assert encoded is not None
        self.encodings.append(list(encoded))
        return await self.submit(records)


def _records() -> list[ObservationRecord]:
    return [
        ObservationRecord(project_id="p", id=f"{i:016x}", trace_id="a" * 32, input=text)
        for i, text in enumerate(("small", "q" * 40_000, "also small"))
    ]


def test_an_encoded_sink_gets_the_encodings_of_the_records_after_the_claim_check(
    tmp_path: Path,
) -> None:
    inner = Encoded()
    records = _records()

    async def body() -> None:
        store = LocalBlobStore(tmp_path)
        sink = OffloadingSink(inner, store, CONFIG, 1_000_000)
        assert await sink.submit(records) == {}
        await store.close()

    asyncio.run(body())
    assert inner.handed == [records]
    assert parse_reference(records[1].input) is not None
    assert inner.encodings == [[r.SerializeToString() for r in records]]


def test_a_plain_sink_gets_the_records_alone(tmp_path: Path) -> None:
    inner = Plain()
    records = _records()

    async def body() -> None:
        store = LocalBlobStore(tmp_path)
        assert await OffloadingSink(inner, store, CONFIG, 1_000_000).submit(records) == {}
        await store.close()

    asyncio.run(body())
    assert inner.handed == [records]
    assert parse_reference(records[1].input) is not None
