"""``GET /api/public/v2/observations``: field groups, cursor, filters
(docs/reference/langfuse.md §5)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from storage.query.observations_v2 import FIELD_GROUPS, Cursor, decode_cursor, encode_cursor
from storage.query.values import BadRequest
from tests.ingest.api.read_api import Api, Seeded, seed
from tests.support.records import BASE_US, new_id, record

PATH = "/api/public/v2/observations"


def query(api: Api, **params: Any) -> dict[str, Any]:
    response = api.get(PATH, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [o["id"] for o in body["data"]]


def test_default_groups_core_and_basic(api: Api) -> None:
    s = seed(api)
    body = query(api, traceId=s.t1)
    assert body["meta"] == {}  # last page: no cursor
    assert ids(body) == [s.gen1, s.root1]
    assert body["data"][0] == {
        "id": s.gen1,
        "traceId": s.t1,
        "startTime": "2025-11-22T00:06:40.123456Z",
        "endTime": "2025-11-22T00:06:40.373457Z",
        "projectId": api.project_a,
        "parentObservationId": s.root1,
        "type": "GENERATION",
        "name": "chat gpt-4o",
        "level": "WARNING",
        "statusMessage": "rate limited once",
        "version": "v7",
        "environment": "production",
        "bookmarked": False,
        "public": False,
        "userId": "alice",  # the merged trace's user
        "sessionId": "s-1",
        "isRootObservation": False,
    }
    assert body["data"][1]["isRootObservation"] is True


def test_every_group_has_exactly_its_keys(api: Api) -> None:
    s = seed(api)
    for group, keys in FIELD_GROUPS.items():
        item = query(api, traceId=s.t1, fields=group)["data"][0]
        assert set(item) == set(FIELD_GROUPS["core"]) | set(keys), group
    everything = query(api, traceId=s.t1, fields=",".join(FIELD_GROUPS))["data"][0]
    assert everything == {
        **{k: everything[k] for k in FIELD_GROUPS["core"] + FIELD_GROUPS["basic"]},
        "completionStartTime": "2025-11-22T00:06:40.243463Z",
        "createdAt": everything["createdAt"],
        "updatedAt": everything["updatedAt"],
        "input": '[{"role":"user","content":"' + "Summarise the quarterly report. " * 30 + '"}]',
        "output": '{"role":"assistant","content":"' + "The report shows growth. " * 40 + '"}',
        "metadata": {"customer": '"acme"', "attempt": "2", "flags": '{"beta":true}'},
        "providedModelName": "gpt-4o",
        "internalModelId": "gpt-4o",
        "modelParameters": {"temperature": 0.2, "max_tokens": 512},
        "modelId": "gpt-4o",
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "usageDetails": {"input": 1200, "output": 340, "input_cached_tokens": 100, "total": 1640},
        "costDetails": {
            "input": 0.003,
            "input_cached_tokens": 0.000125,
            "output": 0.0034,
            "total": 0.006525000001,
        },
        "totalCost": 0.006525000001,
        "usagePricingTierName": "Standard",
        "promptId": "prompt-42",
        "promptName": "summary",
        "promptVersion": 3,
        "latency": 0.250001,
        "timeToFirstToken": 0.120007,
        "tags": ["beta", "rag"],
        "release": "2025.11.1",
        "traceName": "qa",
    }
    assert everything["createdAt"].endswith("Z")


def test_metadata_is_truncated_unless_expanded(api: Api) -> None:
    p, tid = api.project_a, new_id(32)
    long_value = "x" * 300
    api.writer.write_observations(
        [record(p, tid, metadata={"long": long_value, "other": long_value, "short": "s"})]
    )
    short = query(api, traceId=tid, fields="metadata")["data"][0]["metadata"]
    assert short == {"long": "x" * 200, "other": "x" * 200, "short": "s"}
    expanded = query(api, traceId=tid, fields="metadata", expandMetadata="long")
    assert expanded["data"][0]["metadata"] == {
        "long": long_value,
        "other": "x" * 200,
        "short": "s",
    }


def test_cursor_walks_every_page_once(api: Api) -> None:
    p, tid = api.project_a, new_id(32)
    # seven observations, two sharing a start time (ties are broken by trace id, then id)
    starts = [BASE_US + n * 1_000 for n in (0, 1, 2, 3, 3, 4, 5)]
    records = [record(p, tid, start_us=start) for start in starts]
    api.writer.write_observations(records)
    expected = [r.id for r in sorted(records, key=lambda r: (r.start_time_us, r.id), reverse=True)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"traceId": tid, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = query(api, **params)
        seen += ids(body)
        pages += 1
        cursor = body["meta"].get("cursor")
        if cursor is None:
            break
        decoded = json.loads(base64.b64decode(cursor))
        assert set(decoded) == {"lastStartTimeTo", "lastTraceId", "lastId"}
        assert decoded["lastId"] == seen[-1]
    assert seen == expected
    assert pages == 3  # 3 + 3 + 1
    # exactly `limit` rows left: the last full page has no cursor
    assert "cursor" not in query(api, traceId=tid, limit=7)["meta"]


def test_filters(api: Api) -> None:
    s = seed(api)

    def found(**params: Any) -> list[str]:
        return ids(query(api, **params))

    assert found() == [s.obs3, s.obs2, s.gen1, s.root1]
    assert found(name="qa") == [s.root1]
    assert found(type="GENERATION") == [s.gen1]
    assert found(level="ERROR") == [s.obs2]
    assert found(version="v7") == [s.gen1]
    assert found(userId="alice") == [s.obs3, s.gen1, s.root1]
    assert found(sessionId="s-1") == [s.gen1, s.root1]
    assert found(parentObservationId=s.root1) == [s.gen1]
    assert found(parentObservationId="") == [s.obs3, s.obs2, s.root1]  # only parentless
    assert found(isRootObservation="true") == [s.obs3, s.obs2, s.root1]
    assert found(isRootObservation="false") == [s.gen1]
    assert found(environment=["staging", "default"]) == [s.obs3, s.obs2]
    assert found(fromStartTime="2025-11-22T00:07:00Z") == [s.obs3, s.obs2]
    assert found(toStartTime="2025-11-22T00:06:40.123456Z") == [s.root1]
    flt = [{"type": "string", "column": "name", "operator": "starts with", "value": "CHAT"}]
    assert found(filter=json.dumps(flt)) == [s.gen1]


def test_an_app_root_is_a_root_observation(api: Api) -> None:
    # Langfuse v2 observations: isRootObservation = no parent OR is_app_root
    trace_id, parent, app_root, child = new_id(32), new_id(), new_id(), new_id()
    api.writer.write_observations(
        [
            record(
                api.project_a, trace_id, app_root, parent_observation_id=parent, is_app_root=True
            ),
            record(api.project_a, trace_id, child, parent_observation_id=app_root),
        ]
    )
    body = query(api, traceId=trace_id)
    assert {o["id"]: o["isRootObservation"] for o in body["data"]} == {
        app_root: True,
        child: False,
    }
    assert ids(query(api, traceId=trace_id, isRootObservation="true")) == [app_root]
    assert ids(query(api, traceId=trace_id, isRootObservation="false")) == [child]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"fields": "core,nope"}, "fields: unknown field group(s) nope"),
        ({"limit": "1001"}, "limit must be between 1 and 1000"),
        ({"limit": "0"}, "limit must be between 1 and 1000"),
        ({"cursor": "%%%"}, "cursor is not a valid cursor"),
        ({"cursor": base64.b64encode(b'{"lastId": 1}').decode()}, "cursor must hold"),
        ({"parseIoAsJson": "true"}, "parseIoAsJson=true is not supported"),
        ({"isRootObservation": "maybe"}, "isRootObservation must be true or false"),
        ({"fromStartTime": "3000-01-01T00:00:00Z"}, "fromStartTime must lie between"),
        ({"filter": "[{}]"}, "filter[0].type must be one of"),
    ],
)
def test_400(api: Api, params: dict[str, str], message: str) -> None:
    response = api.get(PATH, params=params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message), response.json()


def test_project_isolation(api: Api) -> None:
    s: Seeded = seed(api)
    assert s.b_trace not in {o["traceId"] for o in query(api)["data"]}
    assert query(api, traceId=s.b_trace)["data"] == []
    b_items = api.get(PATH, auth=api.auth_b).json()["data"]
    assert [o["traceId"] for o in b_items] == [s.b_trace]
    # a cursor from A's listing does not reveal anything in B
    first = query(api, limit=1)
    b_page = api.get(PATH, params={"cursor": first["meta"]["cursor"]}, auth=api.auth_b).json()
    assert [o["traceId"] for o in b_page["data"]] in ([], [s.b_trace])


def test_cursor_round_trip_accepts_urlsafe() -> None:
    cursor = Cursor(BASE_US, "t" * 32, "o?>>")
    text = encode_cursor(cursor)
    assert decode_cursor(text) == cursor
    urlsafe = text.replace("+", "-").replace("/", "_").rstrip("=")
    assert decode_cursor(urlsafe) == cursor
    with pytest.raises(BadRequest):
        decode_cursor(base64.b64encode(b"[1]").decode())
