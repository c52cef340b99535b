"""Packing records into Kafka messages: by trace id, under the size limit, oversize refused."""

from __future__ import annotations

from ingest.kafka_publisher import pack_messages
from storage.records import ObservationRecord, decode_observation_batch


def _record(trace: str, span: str, payload: int) -> ObservationRecord:
    return ObservationRecord(trace_id=trace, id=span, input="x" * payload)


def test_messages_are_keyed_by_trace_and_stay_under_the_limit() -> None:
    records = [_record("t1", f"a{i}", 30_000) for i in range(10)] + [_record("t2", "b0", 10)]
    messages, rejections = pack_messages(records, 100_000)
    assert rejections == []
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
    assert len(rejections) == 1
    assert "observation huge of trace t1" in rejections[0]
    assert "100000-byte Kafka message limit" in rejections[0]
