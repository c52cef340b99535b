"""Numbers a client may send in a model definition (``ingest.api.models``) against a real
PostgreSQL: what ``jsonb`` and ``numeric`` store must come back as the client sent it, and what
cannot (beyond a double, an integer beyond 64 bits, NaN) is a 400 with a reason, never a 500."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from ingest.api.models import Models
from ingest.http.app import create_app
from storage.auth import Project, StaticKeyStore, hash_secret
from storage.postgres.models import ModelRepository
from storage.postgres.pool import PgPool
from storage.postgres.projects import ProjectRepository
from tests.support.postgres import run_with_pool

BASE = "/api/public/models"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"pk-a:sk-a").decode()}
JSON = {"Content-Type": "application/json"}


async def _healthy() -> str | None:
    return None


def run_api(url: str, body: Callable[[httpx.AsyncClient, PgPool], Awaitable[None]]) -> None:
    """``body`` with an app serving only the model routes for project ``proj-a``."""

    async def with_pool(pool: PgPool) -> None:
        await ProjectRepository(pool).create("A", "proj-a")
        keys = StaticKeyStore([("pk-a", hash_secret("sk-a"), Project("proj-a", "A"))])
        app = create_app(Models(ModelRepository(pool), keys).routes(), _healthy)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://otelfuse") as http:
            await body(http, pool)

    run_with_pool(url, with_pool)


def _definition(name: str, **extra: str) -> bytes:
    fields = "".join(f', "{key}": {value}' for key, value in extra.items())
    return f'{{"modelName": "{name}", "matchPattern": "^{name}$"{fields}}}'.encode()


def test_large_and_small_numbers_round_trip(migrated_url: str) -> None:
    """PostgreSQL's numeric writes 1e20 as 100000000000000000000: it must still come back as
    the number the client sent (before the fix: a 500, orjson refusing a 67-bit integer)."""

    async def body(http: httpx.AsyncClient, pool: PgPool) -> None:
        config = (
            '{"big": 1e20, "huge": 1.5e300, "negative": -2.5e19, "tiny": 1e-300,'
            ' "maxU64": 18446744073709551615, "minI64": -9223372036854775808}'
        )
        condition = '{"usageDetailPattern": "input", "operator": "gt", "value": 1e20}'
        tiers = (
            '[{"name": "Standard", "isDefault": true, "priority": 0, "conditions": [],'
            ' "prices": {"input": 1e-12}},'
            f' {{"name": "Huge", "priority": 1, "conditions": [{condition}],'
            ' "prices": {"input": 0.5}}]'
        )
        sent = _definition("numbers", tokenizerConfig=config, pricingTiers=tiers)
        created = await http.post(BASE, content=sent, headers={**AUTH, **JSON})
        assert created.status_code == 200, created.text
        for response in (created, await http.get(f"{BASE}/{created.json()['id']}", headers=AUTH)):
            assert response.status_code == 200, response.text
            model = response.json()
            assert model["tokenizerConfig"] == {
                "big": 1e20,
                "huge": 1.5e300,
                "negative": -2.5e19,
                "tiny": 1e-300,
                "maxU64": 2**64 - 1,
                "minI64": -(2**63),
            }
            huge_tier = next(t for t in model["pricingTiers"] if t["name"] == "Huge")
            assert huge_tier["conditions"][0]["value"] == 1e20
            assert model["inputPrice"] == 1e-12
        listed = await http.get(BASE, headers=AUTH)
        assert listed.status_code == 200, listed.text

    run_api(migrated_url, body)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"tokenizerConfig": '{"n": 1e400}'}, "tokenizerConfig"),
        ({"tokenizerConfig": '{"n": -1e400}'}, "tokenizerConfig"),
        ({"tokenizerConfig": '{"n": 123456789012345678901234567890}'}, "tokenizerConfig"),
        ({"tokenizerConfig": '{"n": [-9223372036854775809]}'}, "tokenizerConfig"),
        ({"tokenizerConfig": '{"n": NaN}'}, "JSON"),
        ({"tokenizerConfig": '{"n": Infinity}'}, "JSON"),
        ({"inputPrice": "123456789012345678901234567890"}, "inputPrice"),
        ({"inputPrice": "1e400"}, "inputPrice"),
        (
            {
                "pricingTiers": '[{"name": "a", "isDefault": true, "priority": 0,'
                ' "conditions": [], "prices": {"input": 1}}, {"name": "b", "priority": 1,'
                ' "prices": {"input": 1}, "conditions": [{"usageDetailPattern": "input",'
                ' "operator": "gt", "value": 123456789012345678901234567890}]}]'
            },
            "value",
        ),
        (
            {
                "pricingTiers": '[{"name": "a", "isDefault": true, "priority": 0,'
                ' "conditions": [], "prices": {"input": 1}}, {"name": "b", "priority": 1,'
                ' "prices": {"input": 1}, "conditions": [{"usageDetailPattern": "input",'
                ' "operator": "gt", "value": 1e400}]}]'
            },
            "value",
        ),
    ],
)
def test_numbers_beyond_what_can_be_served_are_400_with_a_reason(
    migrated_url: str, extra: dict[str, str], reason: str
) -> None:
    async def body(http: httpx.AsyncClient, pool: PgPool) -> None:
        response = await http.post(BASE, content=_definition("bad", **extra), headers=JSON | AUTH)
        assert response.status_code == 400, response.text
        message: Any = response.json()["message"]
        assert reason in message, message
        assert await pool.fetchval("SELECT count(*) FROM otelfuse.models") == 0

    run_api(migrated_url, body)
