"""``DELETE /api/public/traces/{id}`` and ``DELETE /api/public/traces``
(docs/reference/langfuse.md §5)."""

from __future__ import annotations

import pytest

from ingest.api.traces import MAX_DELETE_BODY_BYTES
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.log_io import LogIOStore
from storage.query.deletion import MAX_TRACE_IDS
from storage.records import ObservationRecord
from tests.ingest.api.read_api import Api, seed
from tests.support.chdb import DATABASE
from tests.support.records import new_id


def add_score(engine: ChdbClient, project_id: str, trace_id: str, score_id: str) -> None:
    engine.insert_rows(
        f"{DATABASE}.scores",
        [
            "id",
            "timestamp",
            "project_id",
            "trace_id",
            "name",
            "value",
            "data_type",
            "source",
            "metadata",
            "event_ts",
        ],
        [
            [
                score_id,
                1_763_770_000_000_000,
                project_id,
                trace_id,
                "accuracy",
                1.0,
                "NUMERIC",
                "API",
                {},
                1_763_770_000_000_000,
            ]
        ],
    )


def scores_of(engine: ChdbClient, project_id: str) -> list[str]:
    rows = engine.select(
        f"SELECT id FROM {DATABASE}.scores FINAL WHERE project_id = {{p:String}}"
        " AND is_deleted = 0 ORDER BY id",
        {"p": project_id},
    )
    return [r["id"] for r in rows]


def test_delete_one_trace(api: Api, engine: ChdbClient) -> None:
    s = seed(api)
    add_score(engine, api.project_a, s.t1, "score-t1")
    add_score(engine, api.project_a, s.t2, "score-t2")
    response = api.delete(f"/api/public/traces/{s.t1}")
    assert response.status_code == 200
    assert response.json() == {"message": "Trace deleted successfully"}
    assert api.get(f"/api/public/traces/{s.t1}").status_code == 404
    for observation_id in (s.root1, s.gen1):
        assert api.get(f"/api/public/observations/{observation_id}").status_code == 404
    assert api.get("/api/public/observations", params={"traceId": s.t1}).json()["data"] == []
    assert api.get("/api/public/v2/observations", params={"traceId": s.t1}).json()["data"] == []
    assert [t["id"] for t in api.get("/api/public/traces").json()["data"]] == [s.t3, s.t2]
    assert api.get("/api/public/sessions/s-1").status_code == 404  # t1 was its only trace
    assert scores_of(engine, api.project_a) == ["score-t2"]
    # the other traces are untouched
    assert api.get(f"/api/public/observations/{s.obs2}").status_code == 200


def test_delete_removes_kept_genai_log_content(api: Api, engine: ChdbClient) -> None:
    s = seed(api)
    kept = LogIOStore(engine, DATABASE)
    for trace_id in (s.t1, s.t2):
        log = ObservationRecord(project_id=api.project_a, trace_id=trace_id, id=new_id(16))
        log.input = '"question"'
        kept.keep([log])
    assert api.delete(f"/api/public/traces/{s.t1}").status_code == 200
    left = kept.read([(api.project_a, s.t1), (api.project_a, s.t2)])
    assert [trace_id for _, trace_id, _ in left] == [s.t2]


def test_delete_many(api: Api) -> None:
    s = seed(api)
    response = api.delete("/api/public/traces", {"traceIds": [s.t2, s.t3, s.t2, "unknown"]})
    assert response.status_code == 200
    assert response.json() == {"message": "Traces deleted successfully"}
    assert [t["id"] for t in api.get("/api/public/traces").json()["data"]] == [s.t1]
    assert [o["id"] for o in api.get("/api/public/observations").json()["data"]] == [
        s.gen1,
        s.root1,
    ]
    daily = api.get("/api/public/metrics/daily").json()["data"]
    assert [(d["countTraces"], d["countObservations"]) for d in daily] == [(1, 2)]


def test_cannot_delete_another_projects_trace(api: Api, engine: ChdbClient) -> None:
    s = seed(api)
    add_score(engine, api.project_b, s.b_trace, "score-b")
    # A's key names B's trace: nothing happens in B (the call succeeds like Langfuse's async
    # deletion, which never reveals whether an id exists elsewhere)
    assert api.delete(f"/api/public/traces/{s.b_trace}").status_code == 200
    assert api.delete("/api/public/traces", {"traceIds": [s.b_trace]}).status_code == 200
    assert api.get(f"/api/public/traces/{s.b_trace}", auth=api.auth_b).status_code == 200
    assert len(api.get("/api/public/observations", auth=api.auth_b).json()["data"]) == 1
    assert scores_of(engine, api.project_b) == ["score-b"]
    # and B cannot delete A's
    assert api.delete(f"/api/public/traces/{s.t1}", auth=api.auth_b).status_code == 200
    assert api.get(f"/api/public/traces/{s.t1}").status_code == 200
    # without credentials: 401
    assert api.client.request("DELETE", f"/api/public/traces/{s.t1}").status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "body must be JSON"),
        ({"traceIds": []}, "traceIds must be a non-empty array"),
        ({"ids": ["a"]}, "traceIds must be a non-empty array"),
        ({"traceIds": ["a", 1]}, "traceIds must hold non-empty strings"),
        ({"traceIds": [""]}, "traceIds must hold non-empty strings"),
        ({"traceIds": ["x"] * 1001}, "traceIds holds 1001 ids; at most 1000"),
    ],
)
def test_bad_delete_body(api: Api, body: object, message: str) -> None:
    if body is None:
        response = api.client.request(
            "DELETE", "/api/public/traces", content=b"{not json", headers=api.auth_a
        )
    else:
        response = api.delete("/api/public/traces", body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


def test_a_delete_body_is_read_up_to_a_small_limit(api: Api) -> None:
    """#15 item 2: ``DELETE /traces`` read its whole body before checking it (a 10 MB body
    peaked at 1.2 GB RSS). A body can hold at most ``MAX_TRACE_IDS`` ids, so anything beyond
    ``MAX_DELETE_BODY_BYTES`` is refused before it is read whole."""
    ids = [new_id(32) for _ in range(MAX_TRACE_IDS)]
    assert api.delete("/api/public/traces", {"traceIds": ids}).status_code == 200
    padding = "x" * MAX_DELETE_BODY_BYTES
    too_big = api.delete("/api/public/traces", {"traceIds": ["a"], "pad": padding})
    assert too_big.status_code == 413, too_big.text
    assert "limit" in too_big.json()["message"]
