"""The prompt management API (``ingest.api.prompts``) in process against a real PostgreSQL:
versions, ``latest``, label moves, placeholders, folder and unicode names, validation, project
isolation, list filters and pagination, label updates and deletes. Every success body converts
strictly into its response model (``storage.query.schemas``), so the documented shapes hold."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest

from ingest.api import prompts as prompts_api
from ingest.api.prompts import Prompts
from ingest.http.app import create_app
from ingest.http.openapi import DocumentedRoute, openapi_document
from storage.auth import Project, StaticKeyStore, hash_secret
from storage.postgres.pool import PgPool
from storage.postgres.projects import ProjectRepository
from storage.postgres.prompts import PromptRepository
from storage.query import schemas
from tests.support.postgres import run_with_pool

BASE = "/api/public/v2/prompts"


async def _healthy() -> str | None:
    return None


def _auth(public_key: str, secret_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Api:
    http: httpx.AsyncClient
    pool: PgPool
    auth: dict[str, str]
    auth_b: dict[str, str]

    async def call(self, method: str, path: str, *, b: bool = False, **kw: Any) -> httpx.Response:
        headers = self.auth_b if b else self.auth
        return await self.http.request(method, path, headers=headers, **kw)

    async def create(self, body: dict[str, Any], *, b: bool = False) -> dict[str, Any]:
        response = await self.call("POST", BASE, b=b, json=body)
        assert response.status_code == 201, response.text
        return _prompt(response)

    async def get(self, name: str, **params: Any) -> dict[str, Any]:
        response = await self.call("GET", f"{BASE}/{quote(name, safe='')}", params=params)
        assert response.status_code == 200, response.text
        return _prompt(response)

    async def refused(self, method: str, path: str, status: int, **kw: Any) -> str:
        response = await self.call(method, path, **kw)
        assert response.status_code == status, (response.status_code, response.text)
        message: str = response.json()["message"]
        return message


def _prompt(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    msgspec.convert(body, schemas.Prompt)  # the documented shape, exactly (closed model)
    return body


def run_api(url: str, body: Callable[[Api], Awaitable[None]]) -> None:
    """``body`` with an app serving only the prompt routes, over a migrated database holding
    projects ``proj-a`` and ``proj-b`` (keys ``pk-a``/``sk-a`` and ``pk-b``/``sk-b``)."""

    async def with_pool(pool: PgPool) -> None:
        projects = ProjectRepository(pool)
        await projects.create("A", "proj-a")
        await projects.create("B", "proj-b")
        keys = StaticKeyStore(
            [
                ("pk-a", hash_secret("sk-a"), Project("proj-a", "A")),
                ("pk-b", hash_secret("sk-b"), Project("proj-b", "B")),
            ]
        )
        app = create_app(Prompts(PromptRepository(pool), keys, 1 << 20).routes(), _healthy)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://otelfuse") as http:
            await body(Api(http, pool, _auth("pk-a", "sk-a"), _auth("pk-b", "sk-b")))

    run_with_pool(url, with_pool)


def test_each_create_is_a_new_version_and_labels_move(migrated_url: str) -> None:
    async def body(api: Api) -> None:
        v1 = await api.create({"name": "greet", "prompt": "Hi {{name}}", "labels": ["production"]})
        assert (v1["version"], v1["type"], v1["labels"]) == (1, "text", ["production", "latest"])
        assert (v1["createdBy"], v1["projectId"], v1["config"], v1["tags"]) == (
            "API",
            "proj-a",
            {},
            [],
        )
        assert v1["commitMessage"] is None and v1["resolutionGraph"] is None
        v2 = await api.create(
            {
                "name": "greet",
                "type": "text",
                "prompt": "Hey {{name}}",
                "tags": ["support", "support"],
                "config": {"temperature": 0.2},
                "commitMessage": "friendlier",
            }
        )
        assert (v2["version"], v2["labels"], v2["tags"]) == (2, ["latest"], ["support"])
        assert (v2["config"], v2["commitMessage"]) == ({"temperature": 0.2}, "friendlier")
        production = await api.get("greet")
        assert (production["version"], production["labels"]) == (1, ["production"])
        assert production["tags"] == ["support"]  # tags are shared by every version
        assert (await api.get("greet", label="latest"))["version"] == 2
        assert (await api.get("greet", version=2))["prompt"] == "Hey {{name}}"
        v3 = await api.create({"name": "greet", "prompt": "Yo", "labels": ["production"]})
        assert (v3["version"], v3["labels"], v3["tags"]) == (
            3,
            ["production", "latest"],
            ["support"],
        )
        assert (await api.get("greet", version=1))["labels"] == []
        assert (await api.get("greet", version=2))["labels"] == []
        assert (await api.get("greet"))["version"] == 3
        message = await api.refused(
            "POST",
            BASE,
            400,
            json={"name": "greet", "type": "chat", "prompt": [{"role": "user", "content": "x"}]},
        )
        assert message.startswith("Previous versions have different prompt type")

    run_api(migrated_url, body)


def test_chat_prompts_keep_messages_and_placeholders(migrated_url: str) -> None:
    messages = [
        {"role": "system", "content": "You are {{persona}}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{question}}", "type": "chatmessage"},
    ]

    async def body(api: Api) -> None:
        created = await api.create(
            {"name": "agent", "type": "chat", "prompt": messages, "labels": ["production"]}
        )
        expected = [messages[0], messages[1], {"role": "user", "content": "{{question}}"}]
        assert created["type"] == "chat" and created["prompt"] == expected
        assert (await api.get("agent"))["prompt"] == expected
        for bad, reason in (
            ([{"type": "placeholder", "name": "1st"}], "Placeholder name must start with a letter"),
            ([{"type": "placeholder"}], "Placeholder name must start with a letter"),
            ([{"role": "user"}], "prompt[0] must be"),
            ([{"role": "user", "content": 5}], "$.prompt[0].content"),
            (
                [{"role": "user", "content": "{{ history }}"}, messages[1]],
                "variables and placeholders must be unique, the following are not: history",
            ),
            ("a string", "a chat prompt must be a list of messages"),
        ):
            body = {"name": "agent", "type": "chat", "prompt": bad}
            assert reason in await api.refused("POST", BASE, 400, json=body), bad
        untyped = {"name": "agent", "prompt": messages}
        assert "text prompt must be a string" in await api.refused("POST", BASE, 400, json=untyped)

    run_api(migrated_url, body)


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "", "prompt": "x"}, "Prompt name cannot be empty"),
        ({"name": "   ", "prompt": "x"}, "Prompt name cannot be empty"),
        ({"name": "a|b", "prompt": "x"}, "cannot contain '|' character"),
        ({"name": "/a", "prompt": "x"}, "cannot start with a slash"),
        ({"name": "a/", "prompt": "x"}, "cannot end with a slash"),
        ({"name": "a//b", "prompt": "x"}, "cannot contain consecutive slashes"),
        ({"name": "<b>x</b>", "prompt": "x"}, "cannot contain HTML tags"),
        ({"name": "new", "prompt": "x"}, "Prompt name cannot be 'new'"),
        ({"name": "n" * 256, "prompt": "x"}, "at most 255 characters"),
        ({"name": "a\x00", "prompt": "x"}, "NUL"),
        ({"name": "a", "prompt": "x", "labels": ["Prod"]}, "$.labels[0]"),
        ({"name": "a", "prompt": "x", "labels": ["l" * 37]}, "$.labels[0]"),
        ({"name": "a", "prompt": "x", "labels": None}, "$.labels"),
        ({"name": "a", "prompt": "x", "commitMessage": "m" * 501}, "$.commitMessage"),
        ({"name": "a", "prompt": 5}, "$.prompt"),
        ({"name": "a"}, "missing required field `prompt`"),
        ({"name": "a", "prompt": "x", "type": "image"}, "$.type"),
        ({"name": "a", "prompt": "x\x00"}, "cannot contain NUL"),
        ({"name": "a", "prompt": "x", "config": {"k\x00": 1}}, "cannot contain NUL"),
        ({"name": "a", "prompt": "x", "config": _deep(200)}, "nested deeper"),
        ({"name": "a", "prompt": "x", "config": {"n": 2**64}}, "64-bit integers"),
        ([], "Expected `object`"),
    ],
)
def test_invalid_create_bodies_are_400_with_a_reason(
    migrated_url: str, body: Any, reason: str
) -> None:
    async def run(api: Api) -> None:
        message = await api.refused("POST", BASE, 400, json=body)
        assert reason in message, message
        assert await api.pool.fetchval("SELECT count(*) FROM otelfuse.prompts") == 0

    run_api(migrated_url, run)


def test_not_json_and_missing_credentials(migrated_url: str) -> None:
    async def body(api: Api) -> None:
        message = await api.refused("POST", BASE, 400, content=b"{nope")
        assert "not valid JSON" in message
        deep = b'{"name": "a", "prompt": "x", "config": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        assert "nested deeper" in await api.refused("POST", BASE, 400, content=deep)
        huge = b'{"name": "a", "prompt": "x", "config": 1e400}'
        assert "Number out of range" in await api.refused("POST", BASE, 400, content=huge)
        response = await api.http.get(f"{BASE}/greet")
        assert response.status_code == 401

    run_api(migrated_url, body)


def test_config_numbers_come_back_as_sent_or_are_400(migrated_url: str) -> None:
    """jsonb keeps numbers as numeric without an exponent (1e20 comes back as 21 digits):
    they must still be served as sent, and what cannot be is refused with a reason."""

    async def body(api: Api) -> None:
        config = (
            b'{"big": 1e20, "huge": -1.5e300, "tiny": 1e-300, "maxU64": 18446744073709551615,'
            b' "minI64": -9223372036854775808, "nested": [{"x": 2.5e19}]}'
        )
        sent = b'{"name": "numbers", "prompt": "x", "labels": ["production"], "config": '
        created = await api.call("POST", BASE, content=sent + config + b"}")
        assert created.status_code == 201, created.text
        expected = {
            "big": 1e20,
            "huge": -1.5e300,
            "tiny": 1e-300,
            "maxU64": 2**64 - 1,
            "minI64": -(2**63),
            "nested": [{"x": 2.5e19}],
        }
        assert created.json()["config"] == expected
        assert (await api.get("numbers"))["config"] == expected
        listed = await api.call("GET", BASE, params={"name": "numbers"})
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"][0]["lastConfig"] == expected
        for number, reason in [
            (b"123456789012345678901234567890", "64-bit integers"),
            (b"-9223372036854775809", "64-bit integers"),
            (b"-1e400", "Number out of range"),
            (b"NaN", "not valid JSON"),
        ]:
            bad = b'{"name": "bad", "prompt": "x", "config": {"n": [' + number + b"]}}"
            assert reason in await api.refused("POST", BASE, 400, content=bad)
        assert await api.pool.fetchval("SELECT count(*) FROM otelfuse.prompts") == 1

    run_api(migrated_url, body)


def test_get_misses_are_404_and_version_with_label_is_400(migrated_url: str) -> None:
    async def body(api: Api) -> None:
        await api.create({"name": "greet", "prompt": "x"})
        assert await api.refused("GET", f"{BASE}/nope", 404) == (
            "Prompt not found: 'nope' with label 'production'"
        )
        assert await api.refused("GET", f"{BASE}/greet", 404) == (
            "Prompt not found: 'greet' with label 'production'"
        )
        assert await api.refused("GET", f"{BASE}/greet?label=staging", 404) == (
            "Prompt not found: 'greet' with label 'staging'"
        )
        assert await api.refused("GET", f"{BASE}/greet?version=9", 404) == (
            "Prompt not found: 'greet' with version 9"
        )
        assert await api.refused("GET", f"{BASE}/greet?version=1&label=latest", 400) == (
            "Cannot specify both version and label"
        )
        for bad in ("abc", "0", "-1", "2147483648", "1.5"):
            assert "version must be" in await api.refused("GET", f"{BASE}/greet?version={bad}", 400)
        assert "NUL" in await api.refused("GET", f"{BASE}/greet?label=a%00", 400)
        await api.refused("GET", f"{BASE}/gr%00eet", 404)

    run_api(migrated_url, body)


def test_folder_and_unicode_names(migrated_url: str) -> None:
    name = "team/support/naïve 提示 ✓"

    async def body(api: Api) -> None:
        created = await api.create({"name": f"  {name} ", "prompt": "x", "labels": ["production"]})
        assert created["name"] == name  # trimmed, as Langfuse does
        encoded = quote(name, safe="")
        assert "%2F" in encoded
        assert (await api.get(name))["name"] == name
        plain = await api.call("GET", f"{BASE}/{quote(name)}")  # slashes as path segments
        assert plain.status_code == 200 and plain.json()["name"] == name
        patched = await api.call(
            "PATCH", f"{BASE}/{encoded}/versions/1", json={"newLabels": ["staging"]}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["labels"] == ["staging", "production", "latest"]
        listed = (await api.call("GET", BASE, params={"name": name})).json()
        assert [p["name"] for p in listed["data"]] == [name]
        versions = await api.create({"name": "a/versions/1", "prompt": "y"})
        assert (await api.get("a/versions/1", version=1))["id"] == versions["id"]
        assert (await api.call("DELETE", f"{BASE}/{encoded}")).status_code == 204
        await api.refused("GET", f"{BASE}/{encoded}", 404)

    run_api(migrated_url, body)


def test_another_projects_prompts_are_invisible(migrated_url: str) -> None:
    async def body(api: Api) -> None:
        await api.create({"name": "secret", "prompt": "a", "labels": ["production"]})
        await api.refused("GET", f"{BASE}/secret", 404, b=True)
        await api.refused("GET", f"{BASE}/secret?version=1", 404, b=True)
        patch = {"json": {"newLabels": ["staging"]}, "b": True}
        await api.refused("PATCH", f"{BASE}/secret/versions/1", 404, **patch)
        await api.refused("DELETE", f"{BASE}/secret", 404, b=True)
        listed = (await api.call("GET", BASE, b=True)).json()
        assert listed["data"] == [] and listed["meta"]["totalItems"] == 0
        own = await api.create({"name": "secret", "prompt": "b"}, b=True)
        assert (own["version"], own["projectId"]) == (1, "proj-b")
        mine = await api.get("secret")
        assert (mine["prompt"], mine["labels"]) == ("a", ["production", "latest"])

    run_api(migrated_url, body)


def test_list_filters_and_pagination(migrated_url: str) -> None:
    async def body(api: Api) -> None:
        await api.create(
            {
                "name": "a",
                "prompt": "1",
                "labels": ["production"],
                "tags": ["x"],
                "config": {"v": 1},
            }
        )
        await api.create({"name": "a", "prompt": "2", "config": {"v": 2}})
        await api.create({"name": "b", "prompt": "1", "tags": ["y"]})
        await api.create(
            {"name": "c/d", "type": "chat", "prompt": [{"role": "user", "content": "hi"}]}
        )
        for name, version, day in (("a", 1, 1), ("a", 2, 3), ("b", 1, 2), ("c/d", 1, 4)):
            await api.pool.execute(
                "UPDATE otelfuse.prompts SET updated_at = $3 WHERE name = $1 AND version = $2",
                name,
                version,
                _day(day),
            )

        async def listing(**params: Any) -> dict[str, Any]:
            response = await api.call("GET", BASE, params=params)
            assert response.status_code == 200, response.text
            found: dict[str, Any] = response.json()
            msgspec.convert(found, schemas.PromptMetaList)
            assert found["pagination"] == found["meta"]
            return found

        everything = await listing()
        assert everything["meta"] == {"page": 1, "limit": 10, "totalItems": 3, "totalPages": 1}
        first = everything["data"][0]
        assert first == {
            "name": "a",
            "type": "text",
            "versions": [1, 2],
            "labels": ["latest", "production"],
            "tags": ["x"],
            "lastUpdatedAt": "2025-01-03T00:00:00.000000Z",
            "lastConfig": {"v": 2},
        }
        assert [(p["name"], p["type"]) for p in everything["data"]] == [
            ("a", "text"),
            ("b", "text"),
            ("c/d", "chat"),
        ]
        page2 = await listing(limit=2, page=2)
        assert [p["name"] for p in page2["data"]] == ["c/d"]
        assert page2["meta"] == {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2}
        beyond = await listing(page=5)
        assert beyond["data"] == [] and beyond["meta"]["totalItems"] == 3
        production = await listing(label="production")
        assert [(p["name"], p["versions"], p["labels"]) for p in production["data"]] == [
            ("a", [1], ["production"])
        ]
        assert production["data"][0]["lastConfig"] == {"v": 1}
        assert [p["name"] for p in (await listing(tag="y"))["data"]] == ["b"]
        assert [p["name"] for p in (await listing(name="c/d"))["data"]] == ["c/d"]
        assert [(p["name"], p["versions"]) for p in (await listing(version=2))["data"]] == [
            ("a", [2])
        ]
        window = await listing(
            fromUpdatedAt="2025-01-02T00:00:00Z", toUpdatedAt="2025-01-04T00:00:00Z"
        )
        assert [(p["name"], p["versions"]) for p in window["data"]] == [("a", [2]), ("b", [1])]
        for params in ({"limit": 0}, {"limit": 101}, {"page": 0}, {"fromUpdatedAt": "soon"}):
            await api.refused("GET", BASE, 400, params=params)

    run_api(migrated_url, body)


def _day(day: int) -> datetime:
    return datetime(2025, 1, day, tzinfo=UTC)


def test_patch_adds_labels_and_moves_them(migrated_url: str) -> None:
    async def body(api: Api) -> None:
        await api.create({"name": "greet", "prompt": "1", "labels": ["staging"]})
        await api.create({"name": "greet", "prompt": "2", "labels": ["production"]})
        response = await api.call(
            "PATCH", f"{BASE}/greet/versions/1", json={"newLabels": ["production", "production"]}
        )
        assert response.status_code == 200, response.text
        updated = _prompt(response)
        assert (updated["version"], updated["labels"]) == (1, ["production", "staging"])
        assert (await api.get("greet", version=2))["labels"] == ["latest"]
        assert (await api.get("greet"))["version"] == 1
        assert await api.refused(
            "PATCH", f"{BASE}/greet/versions/2", 400, json={"newLabels": ["latest"]}
        ) == ("Label 'latest' is always assigned to the latest prompt version")
        assert await api.refused(
            "PATCH", f"{BASE}/greet/versions/7", 404, json={"newLabels": ["x"]}
        ) == ("Prompt not found: greet")
        for path, payload in (
            ("greet/versions/abc", {"newLabels": []}),
            ("greet/versions/0", {"newLabels": []}),
            ("greet/versions/1", {}),
            ("greet/versions/1", {"newLabels": ["Bad Label"]}),
        ):
            await api.refused("PATCH", f"{BASE}/{path}", 400, json=payload)
        assert (await api.call("PATCH", f"{BASE}/greet")).status_code == 405

    run_api(migrated_url, body)


def test_delete_versions_labels_and_prompts(migrated_url: str) -> None:
    async def body(api: Api) -> None:
        for text, labels in (("1", ["production"]), ("2", ["staging"]), ("3", [])):
            await api.create({"name": "greet", "prompt": text, "labels": labels})
        assert await api.refused("DELETE", f"{BASE}/greet?version=1&label=staging", 400) == (
            "Cannot specify both version and label"
        )
        assert (await api.call("DELETE", f"{BASE}/greet?version=3")).status_code == 204
        assert (await api.get("greet", label="latest"))["version"] == 2  # latest moved back
        assert (await api.call("DELETE", f"{BASE}/greet?label=production")).status_code == 204
        await api.refused("GET", f"{BASE}/greet?version=1", 404)
        assert await api.refused("DELETE", f"{BASE}/greet?version=1", 404) == "Prompt not found"
        assert await api.refused("DELETE", f"{BASE}/greet?label=nope", 404) == "Prompt not found"
        nxt = await api.create({"name": "greet", "prompt": "4"})
        assert nxt["version"] == 3  # numbering continues after the highest remaining version
        assert (await api.call("DELETE", f"{BASE}/greet")).status_code == 204
        await api.refused("DELETE", f"{BASE}/greet", 404)
        assert (await api.call("GET", BASE)).json()["data"] == []

    run_api(migrated_url, body)


def test_operations_document_exactly_the_routes() -> None:
    routes = Prompts(PromptRepository(None), StaticKeyStore([]), 1).routes()  # type: ignore[arg-type]
    served = set()
    for route in routes:
        assert isinstance(route, DocumentedRoute)
        assert route.operation in prompts_api.OPERATIONS.values()
        served |= {(route.operation.path, m.lower()) for m in route.methods or () if m != "HEAD"}
    assert served == {(op.path, op.method) for op in prompts_api.OPERATIONS.values()}
    document = openapi_document(routes)
    assert set(document["components"]["schemas"]) >= {"Prompt", "PromptMeta", "PromptMetaList"}
    assert document["paths"][f"{BASE}/{{promptName}}"]["delete"]["responses"]["204"]
