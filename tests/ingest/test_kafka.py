"""Packing records into Kafka messages: by partition key, under the size limit, oversize refused."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given
from hypothesis import strategies as st

from ingest.kafka import pack_messages, pack_score_messages, partitioner
from ingest.mapping import partition
from storage.records import (
    ObservationBatch,
    ObservationRecord,
    ScoreBatch,
    ScoreRecord,
    batch_entry,
    decode_observation_batch,
    decode_score_batch,
    encode_observation_batch,
    encode_score_batch,
)


def _record(trace: str, span: str, payload: int) -> ObservationRecord:
    return ObservationRecord(trace_id=trace, id=span, input="x" * payload)


def test_messages_are_keyed_by_trace_and_stay_under_the_limit() -> None:
    records = [_record("t1", f"a{i}", 30_000) for i in range(10)] + [_record("t2", "b0", 10)]
    messages, rejections = pack_messages(records, 100_000)
    assert rejections == {}
    assert all(len(m.value) <= 100_000 for m in messages)
    by_key: dict[bytes, list[str]] = {}
    for message in messages:
        by_key.setdefault(message.key, []).extend(
            r.id for r in decode_observation_batch(message.value)
        )
    assert by_key == {b"t1": [f"a{i}" for i in range(10)], b"t2": ["b0"]}
    assert len([m for m in messages if m.key == b"t1"]) == 4  # 3 records of ~30 KB per message


def test_an_observation_larger_than_a_message_is_refused_with_its_size() -> None:
    records = [_record("t1", "small", 10), _record("t1", "huge", 200_000)]
    messages, rejections = pack_messages(records, 100_000)
    assert [r.id for m in messages for r in decode_observation_batch(m.value)] == ["small"]
    assert list(rejections) == [1]  # by index in the input
    assert "observation huge (partition key t1)" in rejections[1]
    assert "100000-byte Kafka message limit" in rejections[1]


def test_a_record_without_trace_id_is_keyed_by_its_own_id() -> None:
    """Ingestion update events may omit traceId: create and update must share a partition."""
    update = ObservationRecord(id="obs-1", partial=True)
    messages, _ = pack_messages([_record("t1", "a", 1), update], 100_000)
    assert {m.key: [r.id for r in decode_observation_batch(m.value)] for m in messages} == {
        b"t1": ["a"],
        b"obs-1": ["obs-1"],
    }


def test_scores_are_keyed_by_trace_then_session_then_run_then_id() -> None:
    scores = [
        ScoreRecord(id="s1", trace_id="t1", session_id="sess"),
        ScoreRecord(id="s2", session_id="sess"),
        ScoreRecord(id="s3", dataset_run_id="run"),
        ScoreRecord(id="s4"),
        ScoreRecord(id="s5", trace_id="t1"),
    ]
    messages, rejections = pack_score_messages(scores, 100_000)
    assert rejections == {}
    keyed = {m.key: [r.id for r in decode_score_batch(m.value)] for m in messages}
    assert keyed == {b"t1": ["s1", "s5"], b"sess": ["s2"], b"run": ["s3"], b"s4": ["s4"]}


def test_a_score_larger_than_a_message_is_refused() -> None:
    huge = ScoreRecord(id="big", trace_id="t1", comment="c" * 200_000)
    messages, rejections = pack_score_messages([huge, ScoreRecord(id="ok", trace_id="t1")], 100_000)
    assert [r.id for m in messages for r in decode_score_batch(m.value)] == ["ok"]
    assert list(rejections) == [0] and "score big (partition key t1)" in rejections[0]


def test_joined_batch_entries_are_the_batch_encoding() -> None:
    # Lengths with 1, 2 and 3 varint bytes.
    records = [_record("t1", f"a{n}", n) for n in (0, 100, 127, 128, 5_000, 20_000)]
    batch = ObservationBatch(observations=records).SerializeToString()  # protobuf's own encoding
    assert b"".join(batch_entry(r) for r in records) == batch
    assert encode_observation_batch(records) == batch
    assert decode_observation_batch(batch) == records
    scores = [ScoreRecord(id="s1", trace_id="t1", comment="c" * 300)]
    score_batch = ScoreBatch(scores=scores).SerializeToString()
    assert b"".join(batch_entry(s) for s in scores) == score_batch
    assert encode_score_batch(scores) == score_batch


def test_with_a_partitioner_records_are_grouped_by_the_partition_of_their_key() -> None:
    """One message per partition (under the limit), sent to the partition Kafka's default
    partitioner gives each key, so a trace still lands on one partition."""
    records = [_record(f"trace-{t}", f"s{t}-{i}", 100) for t in range(40) for i in range(3)]
    messages, rejections = pack_messages(records, 1_000_000, partitioner(6))
    assert rejections == {}
    assert sorted(m.partition for m in messages if m.partition is not None) == sorted(
        {DefaultPartitioner()(f"trace-{t}".encode(), list(range(6)), []) for t in range(40)}
    )
    for message in messages:
        decoded = decode_observation_batch(message.value)
        assert message.records == len(decoded)
        assert message.key == decoded[0].trace_id.encode()
        for record in decoded:
            expected = DefaultPartitioner()(record.trace_id.encode(), list(range(6)), [])
            assert message.partition == expected
    spans = [r.id for m in messages for r in decode_observation_batch(m.value)]
    assert sorted(spans) == sorted(r.id for r in records)
    by_trace: dict[str, list[str]] = {}
    for span in spans:
        by_trace.setdefault(span.split("-")[0], []).append(span)
    assert all(ids == sorted(ids) for ids in by_trace.values())  # order within a trace kept


def test_a_partition_over_the_limit_gets_several_messages_keyed_by_their_first_record() -> None:
    records = [_record(f"t{t}", f"s{t}", 30_000) for t in range(10)]
    messages, _ = pack_messages(records, 100_000, lambda key: 0)
    assert [m.records for m in messages] == [3, 3, 3, 1]
    assert [m.key for m in messages] == [b"t0", b"t3", b"t6", b"t9"]
    assert {m.partition for m in messages} == {0}


def test_records_handed_with_their_encodings_pack_as_records_serialized_here() -> None:
    records = [_record(f"t{i % 3}", f"a{i}", 40_000 if i == 4 else 100) for i in range(12)]
    records.append(_record("t1", "huge", 200_000))
    encoded = [r.SerializeToString() for r in records]
    of = partitioner(6)
    assert pack_messages(records, 100_000, of, encoded) == pack_messages(records, 100_000, of)
    assert pack_messages(records, 100_000, None, encoded) == pack_messages(records, 100_000)


@given(st.binary(max_size=80), st.integers(min_value=1, max_value=512))
def test_partition_of_a_key_is_aiokafkas_default_partition(key: bytes, partitions: int) -> None:
    assert partition.murmur2(key) == murmur2(key)
    expected = DefaultPartitioner()(key, list(range(partitions)), [])
    assert partition.partition_of(key, partitions) == expected == partitioner(partitions)(key)


@pytest.mark.parametrize(
    ("text", "java_int"),
    [  # apache/kafka UtilsTest.testMurmur2: Utils.murmur2 as Java's signed int
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_the_java_clients_values(text: str, java_int: int) -> None:
    assert partition.murmur2(text.encode()) == java_int & 0xFFFFFFFF
