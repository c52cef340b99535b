"""A Starlette TestClient over the public read API (``ingest.api.read.read_routes``) on the
session's chdb, with two fresh projects, and a seed of traces; shared by ``tests/ingest/api``."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient

from ingest.api.read import read_routes
from ingest.app.clickhouse import clickhouse_health
from storage.auth import Project, StaticKeyStore, hash_secret
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.writer import ClickHouseWriter
from storage.query.repository import Repository
from tests.support.chdb import DATABASE
from tests.support.http import test_client
from tests.support.records import BASE_US, generation, new_id, record

SECOND = 1_000_000


def basic(public_key: str, secret_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Api:
    client: TestClient
    writer: ClickHouseWriter
    project_a: str
    project_b: str
    auth_a: dict[str, str]
    auth_b: dict[str, str]

    def get(self, path: str, params: Any = None, auth: Mapping[str, str] | None = None) -> Any:
        return self.client.get(path, params=params, headers=dict(auth or self.auth_a))

    def delete(self, path: str, body: Any = None, auth: Mapping[str, str] | None = None) -> Any:
        headers = dict(auth or self.auth_a)
        return self.client.request("DELETE", path, json=body, headers=headers)


def make_app(repo: Repository, keys: StaticKeyStore) -> TestClient:
    routes = read_routes(repo, keys, max_request_bytes=1 << 20)
    return test_client(routes, lambda: clickhouse_health(repo))


@contextmanager
def open_api(engine: ChdbClient) -> Iterator[Api]:
    """A TestClient over ``read_routes`` with two fresh projects (A and B)."""
    project_a, project_b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    keys = StaticKeyStore(
        [
            (f"pk-{project_a}", hash_secret("sk-a"), Project(project_a, "Project A")),
            (f"pk-{project_b}", hash_secret("sk-b"), Project(project_b, "Project B")),
        ]
    )
    with make_app(Repository(engine, DATABASE), keys) as client:
        yield Api(
            client,
            ClickHouseWriter(engine, database=DATABASE),
            project_a,
            project_b,
            basic(f"pk-{project_a}", "sk-a"),
            basic(f"pk-{project_b}", "sk-b"),
        )


@dataclass
class Seeded:
    t1: str
    t2: str
    t3: str
    root1: str
    gen1: str
    obs2: str
    obs3: str
    b_trace: str


def seed(api: Api) -> Seeded:
    """Three traces in project A, one in project B."""
    p = api.project_a
    t1, t2, t3, root1, gen1 = new_id(32), new_id(32), new_id(32), new_id(), new_id()
    obs2, obs3 = new_id(), new_id()
    api.writer.write_observations(
        [
            generation(p, t1, gen1, parent_observation_id=root1, trace={"user_id": "alice"}),
            record(
                p,
                t1,
                root1,
                name="qa",
                start_us=BASE_US - SECOND // 2,
                end_us=BASE_US + 3 * SECOND // 2,
                version="v1",
                release="r1",
                input='{"question":"why"}',
                output="plain answer",
                metadata={"route": '"/ask"', "raw": "not json {"},
                environment="production",
                trace={"is_root": True, "tags": ["rag", "beta"], "session_id": "s-1"},
            ),
            record(
                p,
                t2,
                obs2,
                name="ingest",
                start_us=BASE_US + 60 * SECOND,
                end_us=BASE_US + 61 * SECOND,
                environment="staging",
                version="v2",
                level="ERROR",
                trace={"is_root": True, "tags": ["rag"], "user_id": "bob"},
            ),
            record(
                p,
                t3,
                obs3,
                name="batch",
                type="AGENT",
                start_us=BASE_US + 120 * SECOND,
                end_us=BASE_US + 125 * SECOND,
                trace={"is_root": True, "user_id": "alice", "public": True},
            ),
        ]
    )
    b_trace = new_id(32)
    api.writer.write_observations(
        [record(api.project_b, b_trace, name="secret", trace={"is_root": True, "user_id": "alice"})]
    )
    return Seeded(t1, t2, t3, root1, gen1, obs2, obs3, b_trace)
