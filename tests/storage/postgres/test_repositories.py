"""Projects, API keys, model definitions and prompts against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from storage.auth import verify_secret
from storage.errors import NotFound, PermanentError
from storage.postgres.api_keys import ApiKeyRepository, ProjectNotFound
from storage.postgres.config import InitProject
from storage.postgres.first_project import ensure_init_project
from storage.postgres.model_defs import InvalidModelDefinition, parse_model_definition
from storage.postgres.models import ModelConflict, ModelRepository, ProjectMissing
from storage.postgres.pool import PgPool
from storage.postgres.projects import ProjectExists, ProjectRepository
from storage.postgres.prompts import PromptRepository
from tests.support.postgres import run_with_pool


def _model(name: str = "acme-chat", **extra: Any) -> Any:
    return parse_model_definition(
        {"modelName": name, "matchPattern": f"(?i)^{name}$", "inputPrice": 1, **extra}
    )


def test_projects(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        projects = ProjectRepository(pool)
        created = await projects.create("Team A", "proj-a")
        assert (created.id, created.name) == ("proj-a", "Team A")
        generated = await projects.create("Team B")
        assert generated.id.startswith("proj-")
        with pytest.raises(ProjectExists):
            await projects.create("again", "proj-a")
        for bad in ("-x", "a b", "x" * 129, "a'; DROP TABLE projects; --"):
            with pytest.raises(ValueError):
                await projects.create("n", bad)
        assert await projects.get("a'; --") is None
        assert [p.id for p in await projects.list_all()] == ["proj-a", generated.id]
        assert (await projects.ensure("proj-a", "other name")).name == "Team A"

    run_with_pool(migrated_url, body)


def test_api_keys_store_only_a_hash_and_a_prefix(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        await ProjectRepository(pool).create("A", "proj-a")
        keys = ApiKeyRepository(pool)
        created = await keys.create("proj-a", "ci")
        secret = created.secret_key
        assert created.info.public_key.startswith("pk-lf-") and secret.startswith("sk-lf-")
        assert secret not in repr(created)
        row = await pool.fetchrow("SELECT * FROM otelfuse.api_keys")
        assert row is not None
        assert secret not in str(dict(row))
        assert verify_secret(secret, row["secret_hash"])
        assert row["display_secret_key"] == secret[:10] + "..."
        (listed,) = await keys.list_for_project("proj-a")
        assert listed.display_secret_key == secret[:10] + "..." and listed.note == "ci"
        active = await keys.find_active([created.info.public_key, "pk-unknown", "x\x00"])
        assert list(active) == [created.info.public_key]
        assert await keys.revoke(created.info.public_key)
        assert not await keys.revoke(created.info.public_key)
        assert await keys.find_active([created.info.public_key]) == {}
        assert await keys.all_active() == {}
        with pytest.raises(ProjectNotFound):
            await keys.create("proj-missing")

    run_with_pool(migrated_url, body)


def test_init_key_is_created_once_and_never_changed(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        await ProjectRepository(pool).ensure("proj-init", "proj-init")
        keys = ApiKeyRepository(pool)
        assert await keys.ensure("proj-init", "pk-init", "sk-one") == "created"
        assert await keys.ensure("proj-init", "pk-init", "sk-one") == "exists"
        assert await keys.ensure("proj-init", "pk-init", "sk-two") == "secret-differs"
        await keys.revoke("pk-init")
        assert await keys.ensure("proj-init", "pk-init", "sk-one") == "revoked"
        await ProjectRepository(pool).ensure("proj-other", "x")
        with pytest.raises(PermanentError, match="another project"):
            await keys.ensure("proj-other", "pk-init", "sk-one")

    run_with_pool(migrated_url, body)


def test_initial_project_from_settings_is_safe_to_create_concurrently(migrated_url: str) -> None:
    init = InitProject("proj-first", "pk-lf-first", "sk-lf-first-secret")

    async def body(pool: PgPool) -> None:
        assert await ensure_init_project(pool, InitProject()) is None
        # several `otelfuse migrate` (or all-in-one starts) at once: one creates, none fails
        outcomes = await asyncio.gather(*(ensure_init_project(pool, init) for _ in range(6)))
        assert sorted(str(o) for o in outcomes) == ["created"] + ["exists"] * 5
        keys = ApiKeyRepository(pool)
        (stored,) = await keys.list_for_project("proj-first")
        assert stored.public_key == "pk-lf-first"
        active = await keys.find_active(["pk-lf-first"])
        assert verify_secret("sk-lf-first-secret", active["pk-lf-first"].secret_hash)
        assert [p.id for p in await ProjectRepository(pool).list_all()] == ["proj-first"]
        changed = InitProject("proj-first", "pk-lf-first", "sk-lf-other")
        assert await ensure_init_project(pool, changed) == "secret-differs"

    run_with_pool(migrated_url, body)


def test_models_create_upsert_list_delete(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        projects = ProjectRepository(pool)
        await projects.create("A", "proj-a")
        await projects.create("B", "proj-b")
        models = ModelRepository(pool)
        a = await models.create("proj-a", _model())
        with pytest.raises(ModelConflict):
            await models.create("proj-a", _model())
        dated = await models.create(
            "proj-a", _model(startDate="2025-01-01T00:00:00Z", inputPrice=2)
        )
        glob = await models.create(None, _model("acme-global"))
        with pytest.raises(ProjectMissing):
            await models.create("proj-missing", _model())
        with pytest.raises(InvalidModelDefinition, match="PostgreSQL regular expression"):
            await models.create("proj-a", _model(matchPattern="(unclosed"))

        # upsert by natural key replaces prices in place
        replaced, created = await models.upsert("proj-a", _model(inputPrice=3))
        assert (replaced.id, created) == (a.id, False)
        assert replaced.tiers[0].prices == {"input": Decimal(3)}
        # upsert by id; an id of another project is refused
        by_id, created = await models.upsert("proj-b", _model("b-model", id="model-b-1"))
        assert (by_id.id, created) == ("model-b-1", True)
        with pytest.raises(ModelConflict, match="in use"):
            await models.upsert("proj-a", _model("b-model", id="model-b-1"))

        page, total = await models.list_visible("proj-a")
        assert total == 3
        assert [m.id for m in page] == [dated.id, a.id, glob.id]  # project first, newest first
        assert (await models.list_visible("proj-b"))[1] == 2
        assert [m.id for m in (await models.list_visible(None))[0]] == [glob.id]

        assert await models.get(a.id, "proj-b") is None
        assert await models.get(glob.id, "proj-b") is not None
        assert await models.get("'; DROP TABLE models; --", "proj-a") is None
        assert await models.delete(a.id, "proj-b") == "missing"
        assert await models.delete(glob.id, "proj-b") == "global"
        assert await models.delete(a.id, "proj-a") == "deleted"
        assert await models.delete(glob.id, None) == "deleted"
        tiers = await pool.fetchval("SELECT count(*) FROM otelfuse.pricing_tiers")
        prices = await pool.fetchval("SELECT count(*) FROM otelfuse.prices")
        assert (tiers, prices) == (2, 2)  # cascades removed the deleted models' rows

    run_with_pool(migrated_url, body)


def test_match_candidates_order_and_isolation(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        projects = ProjectRepository(pool)
        await projects.create("A", "proj-a")
        await projects.create("B", "proj-b")
        models = ModelRepository(pool)
        pattern = {"matchPattern": "(?i)^(openai/)?gpt-4o$"}
        g = await models.create(None, _model("gpt-4o", **pattern))
        old = await models.create("proj-a", _model("gpt-4o", startDate="2024-01-01", **pattern))
        new = await models.create("proj-a", _model("gpt-4o", startDate="2025-01-01", **pattern))
        undated = await models.create("proj-a", _model("gpt-4o", **pattern))
        other = await models.create("proj-b", _model("gpt-4o", **pattern))
        # a pattern stored around the validation must not break matching for everyone
        await pool.execute(
            "INSERT INTO otelfuse.models (id, project_id, model_name, match_pattern)"
            " VALUES ('bad', NULL, 'bad', '(unclosed')"
        )
        found = await models.match_candidates(
            [("proj-a", "OpenAI/GPT-4o"), ("proj-b", "gpt-4o"), ("proj-a", "gpt-4o-mini")]
        )
        assert [m.id for m in found[("proj-a", "OpenAI/GPT-4o")]] == [
            new.id,
            old.id,
            undated.id,
            g.id,
        ]
        assert [m.id for m in found[("proj-b", "gpt-4o")]] == [other.id, g.id]
        assert found[("proj-a", "gpt-4o-mini")] == []
        assert found[("proj-a", "OpenAI/GPT-4o")][0].start_date == datetime(2025, 1, 1, tzinfo=UTC)

    run_with_pool(migrated_url, body)


def test_prompts_versions_labels_and_ids(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        await ProjectRepository(pool).create("A", "proj-a")
        await ProjectRepository(pool).create("B", "proj-b")
        prompts = PromptRepository(pool)
        v1 = await prompts.create("proj-a", "greet", "Hello {{name}}", labels=["production"])
        v2 = await prompts.create("proj-a", "greet", "Hi {{name}}", config={"temperature": 0.2})
        assert (v1.version, v2.version) == (1, 2)
        assert v2.labels == ("latest",)
        assert (await prompts.get("proj-a", "greet", version=1)) is not None
        production = await prompts.get("proj-a", "greet")
        assert production is not None and production.id == v1.id
        assert set(production.labels) == {"production"}  # "latest" moved to v2
        v3 = await prompts.create("proj-a", "greet", "Hey", labels=["production"])
        assert (await prompts.get("proj-a", "greet", label="production")).id == v3.id  # type: ignore[union-attr]
        ids = await prompts.ids_for(
            [
                ("proj-a", "greet", 1),
                ("proj-a", "greet", 2),
                ("proj-b", "greet", 1),
                ("proj-a", "greet\x00", 1),
                ("proj-a", "greet", 0),
            ]
        )
        assert ids == {("proj-a", "greet", 1): v1.id, ("proj-a", "greet", 2): v2.id}
        with pytest.raises(ValueError):
            await prompts.create("proj-a", "x", ["not text"])
        with pytest.raises(ValueError, match="different prompt type"):  # a name keeps its type
            await prompts.create(
                "proj-a", "greet", [{"role": "system", "content": "Hi"}], type="chat"
            )
        with pytest.raises(NotFound):
            await prompts.create("proj-missing", "greet", "Hi")

    run_with_pool(migrated_url, body)
