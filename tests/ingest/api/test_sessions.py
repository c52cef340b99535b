"""``GET /api/public/sessions`` and ``/sessions/{id}`` against real chdb
(docs/reference/langfuse.md §5)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.ingest.api.read_api import Api
from tests.support.records import BASE_US, new_id, record

SECOND = 1_000_000


@dataclass
class Sessions:
    x1: str
    x2: str
    y1: str
    lone: str
    b_trace: str


def seed(api: Api) -> Sessions:
    """Project A: session s-x (two traces, staging then production), s-y (one trace, a day
    later), one trace without a session. Project B: a trace in a session also named s-x."""
    p = api.project_a
    x1, x2, y1, lone, b_trace = (new_id(32) for _ in range(5))
    api.writer.write_observations(
        [
            record(p, x1, name="x-first", environment="staging", trace={"session_id": "s-x"}),
            record(
                p,
                x2,
                name="x-second",
                start_us=BASE_US + 10 * SECOND,
                environment="production",
                trace={"session_id": "s-x", "is_root": True},
            ),
            record(
                p,
                y1,
                name="y",
                start_us=BASE_US + 86_400 * SECOND,
                trace={"session_id": "s-y", "is_root": True},
            ),
            record(p, lone, name="no-session", trace={"is_root": True}),
        ]
    )
    api.writer.write_observations(
        [record(api.project_b, b_trace, name="b", trace={"session_id": "s-x", "is_root": True})]
    )
    return Sessions(x1, x2, y1, lone, b_trace)


def test_list_sessions(api: Api) -> None:
    seed(api)
    body = api.get("/api/public/sessions").json()
    assert body == {
        "data": [
            {
                "id": "s-y",
                "createdAt": "2025-11-23T00:06:40.123456Z",
                "projectId": api.project_a,
                "environment": "default",
            },
            {
                "id": "s-x",
                "createdAt": "2025-11-22T00:06:40.123456Z",
                "projectId": api.project_a,
                "environment": "staging",  # the environment of the session's first trace
            },
        ],
        "meta": {"page": 1, "limit": 50, "totalItems": 2, "totalPages": 1},
    }


def test_session_filters_and_pages(api: Api) -> None:
    seed(api)

    def session_ids(**params: object) -> list[str]:
        response = api.get("/api/public/sessions", params=params)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["data"]]

    assert session_ids(fromTimestamp="2025-11-22T12:00:00Z") == ["s-y"]
    assert session_ids(toTimestamp="2025-11-22T12:00:00Z") == ["s-x"]
    assert session_ids(toTimestamp="2025-11-22T00:06:40.123456Z") == []  # < is exclusive
    assert session_ids(environment="production") == ["s-x"]
    assert session_ids(environment=["default", "production"]) == ["s-y", "s-x"]
    page2 = api.get("/api/public/sessions", params={"limit": 1, "page": 2}).json()
    assert [s["id"] for s in page2["data"]] == ["s-x"]
    assert page2["meta"] == {"page": 2, "limit": 1, "totalItems": 2, "totalPages": 2}
    bad = api.get("/api/public/sessions", params={"fromTimestamp": "soon"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("fromTimestamp")


def test_session_detail(api: Api) -> None:
    s = seed(api)
    body = api.get("/api/public/sessions/s-x").json()
    assert {k: body[k] for k in ("id", "createdAt", "projectId", "environment")} == {
        "id": "s-x",
        "createdAt": "2025-11-22T00:06:40.123456Z",
        "projectId": api.project_a,
        "environment": "staging",
    }
    assert [t["id"] for t in body["traces"]] == [s.x1, s.x2]  # oldest first
    second = body["traces"][1]
    assert second["name"] == "x-second"
    assert second["sessionId"] == "s-x"
    assert second["htmlPath"] == f"/project/{api.project_a}/traces/{s.x2}"
    assert set(body) == {"id", "createdAt", "projectId", "environment", "traces"}


def test_sessions_are_project_scoped(api: Api) -> None:
    s = seed(api)
    # B has its own s-x with only its trace; A's traces never show up there, and vice versa
    b_body = api.get("/api/public/sessions/s-x", auth=api.auth_b).json()
    assert [t["id"] for t in b_body["traces"]] == [s.b_trace]
    assert b_body["projectId"] == api.project_b
    a_body = api.get("/api/public/sessions/s-x").json()
    assert s.b_trace not in [t["id"] for t in a_body["traces"]]
    assert [x["id"] for x in api.get("/api/public/sessions", auth=api.auth_b).json()["data"]] == [
        "s-x"
    ]
    missing = api.get("/api/public/sessions/s-y", auth=api.auth_b)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Session s-y not found within authorized project"}
    assert api.get("/api/public/sessions/s-x").status_code == 200
    assert api.client.get("/api/public/sessions").status_code == 401
