"""The claim check (``storage.blobs.claim_check``) over a real local blob store: oversized
fields are written before they are replaced by references, reads give back the exact value,
keys stay in the project, a record too large in total is shrunk below the limit."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from storage.blobs import LocalBlobStore
from storage.blobs.claim_check import (
    FieldResolver,
    offload_records,
    parse_reference,
    trace_prefix,
)
from storage.blobs.config import OffloadConfig
from storage.errors import RetryableError
from storage.query.shapes import metadata_json
from storage.records import ObservationRecord

CONFIG = OffloadConfig(offload_bytes=16 * 1024, resolve_max_bytes=1_000_000)


def _record(**fields: object) -> ObservationRecord:
    record = ObservationRecord(project_id="proj-a", id="b" * 16, trace_id="a" * 32, **fields)  # type: ignore[arg-type]
    return record


def test_oversized_fields_round_trip(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    big_input = json.dumps({"messages": ["é" * 40_000]})
    big_meta = json.dumps("x" * 20_000)
    record = _record(input=big_input, output="small", metadata={"doc": big_meta, "k": '"v"'})
    record.trace.input = big_input

    async def body() -> None:
        assert await offload_records([record], store, CONFIG, 1_000_000) == (
            3,
            2 * len(big_input.encode()) + len(big_meta),
        )
        ref = parse_reference(record.input)
        assert ref is not None and ref.size == len(big_input.encode())
        assert ref.sha256 == hashlib.sha256(big_input.encode()).hexdigest()
        assert record.input.endswith(big_input[:1024]) and len(record.input) < 1200
        assert record.trace.input == record.input and record.output == "small"
        assert record.metadata["k"] == '"v"'
        assert (tmp_path / "proj-a" / ref.key).read_bytes() == big_input.encode()
        shaped: dict[str, Any] = {
            "data": [
                {
                    "input": record.input,
                    "output": "small",
                    "metadata": dict(record.metadata),
                    "observations": [{"input": record.trace.input}],
                }
            ]
        }
        assert await FieldResolver(store, CONFIG).resolve("proj-a", shaped) == 3
        item = shaped["data"][0]
        assert item["input"] == json.loads(big_input)
        assert item["metadata"] == {"doc": "x" * 20_000, "k": '"v"'}
        assert item["observations"][0]["input"] == json.loads(big_input)
        # another project holding the same reference string gets nothing of proj-a's
        other = {"input": record.input}
        assert await FieldResolver(store, CONFIG).resolve("proj-b", other) == 0
        assert other["input"] == record.input
        assert await store.delete_prefix(trace_prefix("proj-a", "a" * 32)) == 2
        again = {"input": record.input}
        assert await FieldResolver(store, CONFIG).resolve("proj-a", again) == 0

    asyncio.run(body())
    store_closed = asyncio.run(store.close())
    assert store_closed is None


def test_record_larger_than_the_limit_in_total_is_shrunk(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    metadata = {f"k{i}": json.dumps("y" * 12_000) for i in range(20)}  # each below 16 KiB
    record = _record(metadata=metadata)
    assert record.ByteSize() > 200_000

    async def body() -> None:
        count, _ = await offload_records([record], store, CONFIG, 100_000)
        assert 0 < count < 20
        assert record.ByteSize() <= 100_000
        shaped = {"metadata": metadata_json(record.metadata)}
        await FieldResolver(store, CONFIG).resolve("proj-a", shaped)
        assert shaped["metadata"] == {k: json.loads(v) for k, v in metadata.items()}
        await store.close()

    asyncio.run(body())


def test_resolve_budget_leaves_the_rest_as_references(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    records = [
        ObservationRecord(project_id="p", id=f"{i:016x}", trace_id="t", input="z" * 30_000)
        for i in range(3)
    ]
    records[1].input = "w" * 30_000

    async def body() -> None:
        await offload_records(records, store, CONFIG, 1_000_000)
        shaped = [{"input": r.input} for r in records]
        small = FieldResolver(
            store, OffloadConfig(offload_bytes=16 * 1024, resolve_max_bytes=50_000)
        )
        # the same value twice (records 0 and 2) is read once and counted once
        assert await small.resolve("p", shaped) == 2
        assert shaped[0]["input"] == shaped[2]["input"] == "z" * 30_000
        assert parse_reference(shaped[1]["input"]) is not None
        await store.close()

    asyncio.run(body())


def test_store_failure_leaves_no_reference_handed_on(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = LocalBlobStore(blocker / "blobs")
    record = _record(input="q" * 40_000)

    async def body() -> None:
        with pytest.raises(RetryableError):
            await offload_records([record], store, CONFIG, 1_000_000)
        await store.close()

    asyncio.run(body())


def test_threshold_checks() -> None:
    with pytest.raises(ValueError, match="offload_bytes"):
        OffloadConfig(offload_bytes=1000)


def test_a_value_dressed_as_a_reference_is_still_offloaded(tmp_path: Path) -> None:
    """Only a complete reference (header and a 1,024-character preview) counts as one: a
    large value that merely starts like one is offloaded like any other."""
    store = LocalBlobStore(tmp_path)
    fake = "@@@otelfuseBlob:key=fields/" + "0" * 32 + "/" + "0" * 64 + "|bytes=1@@@" + "f" * 50_000
    record = _record(input=fake)

    async def body() -> None:
        assert (await offload_records([record], store, CONFIG, 1_000_000))[0] == 1
        shaped = {"input": record.input}
        await FieldResolver(store, CONFIG).resolve("proj-a", shaped)
        assert shaped["input"] == fake
        await store.close()

    asyncio.run(body())


def test_encoded_records_are_sized_by_their_encoding_and_re_encoded_when_changed(
    tmp_path: Path,
) -> None:
    """``encoded`` (the serializations the receiver hands on to Kafka) replaces ``ByteSize``:
    the same fields are offloaded, and the entry of a changed record is its new encoding."""
    store = LocalBlobStore(tmp_path)
    small = _record(input="s" * 100)
    large = _record(input="q" * 40_000)
    shrunk = _record(metadata={f"k{i}": json.dumps("y" * 12_000) for i in range(20)})
    records = [small, large, shrunk]
    encoded = [r.SerializeToString() for r in records]
    untouched = encoded[0]
    twins = [ObservationRecord.FromString(e) for e in encoded]

    async def body() -> None:
        counted = await offload_records(records, store, CONFIG, 100_000, encoded)
        assert counted == await offload_records(twins, store, CONFIG, 100_000)
        assert counted[0] > 1
        await store.close()

    asyncio.run(body())
    assert encoded[0] is untouched
    assert encoded == [r.SerializeToString() for r in records]
    assert records == twins
    assert parse_reference(large.input) is not None and len(encoded[2]) <= 100_000
