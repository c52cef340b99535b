"""A stored value nested deeper than a response can render never breaks a read.

Reproduces issue #15 item 1: an input of 260 nested arrays was accepted (orjson parses 1,024
levels) but the response renderer (orjson encodes 254) failed, so every list and detail read of
the project answered 500 until the trace was deleted.
"""

from __future__ import annotations

import orjson

from ingest.api.ingestion import Ingestion
from storage.auth import Project, StaticKeyStore, hash_secret
from storage.nesting import MAX_DEPTH, TRUNCATED
from tests.ingest.api.read_api import Api
from tests.support.fakes import RecordingSink
from tests.support.http import test_client
from tests.support.records import generation, new_id
from tests.support.service import basic_auth

KEYS = StaticKeyStore([("pk", hash_secret("sk"), Project("p1"))])
AUTH = {"Authorization": basic_auth("pk", "sk")}

DEEP = "[" * 260 + "]" * 260
"""Valid JSON text, nested deeper than any response may be."""


def test_a_too_deep_value_is_returned_as_its_text(api: Api) -> None:
    trace_id, obs_id = new_id(32), new_id()
    api.writer.write_observations(
        [
            generation(
                api.project_a,
                trace_id,
                obs_id,
                input=DEEP,
                output='{"ok": ' + DEEP + "}",
                metadata={"deep": DEEP, "shallow": "[1]"},
                trace={"input": DEEP},
            )
        ]
    )
    listed = api.get("/api/public/traces")
    assert listed.status_code == 200, listed.text
    assert trace_id in [t["id"] for t in listed.json()["data"]]

    detail = api.get(f"/api/public/traces/{trace_id}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["input"] == DEEP
    (observation,) = detail.json()["observations"]
    assert observation["input"] == DEEP
    assert observation["output"] == '{"ok": ' + DEEP + "}"
    assert observation["metadata"]["deep"] == DEEP
    assert observation["metadata"]["shallow"] == [1]  # shallow JSON is still decoded

    single = api.get(f"/api/public/observations/{obs_id}")
    assert single.status_code == 200, single.text
    assert single.json()["input"] == DEEP
    v1 = api.get("/api/public/observations", params={"traceId": trace_id})
    assert v1.status_code == 200, v1.text
    v2 = api.get("/api/public/v2/observations", params={"traceId": trace_id, "fields": "core,io"})
    assert v2.status_code == 200, v2.text
    assert v2.json()["data"][0]["input"] == DEEP


def _nested(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def test_a_deeply_nested_ingestion_event_is_stored_truncated_and_the_batch_kept() -> None:
    """Issue #15 item 4: ~1,000 levels raised RecursionError, answering 500 for the whole
    batch (the valid events were lost, and clients resent a batch that could never succeed)."""
    sink = RecordingSink()
    client = test_client(Ingestion(sink, sink, KEYS, 1 << 22).routes())
    deep = _nested(1000)
    body = (
        '{"batch": ['
        '{"id": "e-deep", "timestamp": "2025-11-22T00:00:00Z", "type": "span-create",'
        f' "body": {{"id": "s-deep", "traceId": "t", "input": {deep},'
        f' "metadata": {{"k": {deep}}}}}}},'
        '{"id": "e-ok", "timestamp": "2025-11-22T00:00:00Z", "type": "span-create",'
        ' "body": {"id": "s-ok", "traceId": "t", "input": {"q": 1}}}'
        "]}"
    )
    response = client.post(
        "/api/public/ingestion",
        content=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 207, response.text
    result = response.json()
    assert sorted(s["id"] for s in result["successes"]) == ["e-deep", "e-ok"]
    assert result["errors"] == []
    stored = {r.id: r for r in sink.records}
    deep_input = orjson.loads(stored["s-deep"].input)
    for _ in range(MAX_DEPTH):
        (deep_input,) = deep_input
    assert deep_input == TRUNCATED
    assert TRUNCATED in stored["s-deep"].metadata["k"]
    assert orjson.loads(stored["s-ok"].input) == {"q": 1}
