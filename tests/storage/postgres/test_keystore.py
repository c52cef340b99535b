"""``PostgresKeyStore``: snapshot + lookups, the TTL bound on revocation, fail-closed outages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from storage.auth import (
    Project,
    StaticKeyStore,
    Unauthenticated,
    authenticate_async,
    hash_secret,
)
from storage.errors import RetryableError
from storage.postgres.api_keys import ApiKeyRepository
from storage.postgres.keystore import PostgresKeyStore
from storage.postgres.pool import PgPool, create_pool
from storage.postgres.projects import ProjectRepository
from tests.support.fakes import ManualClock
from tests.support.postgres import run_with_pool
from tests.support.service import basic_auth

PROJECT = Project("proj-a", "Team A")


async def _setup(pool: PgPool) -> ApiKeyRepository:
    await ProjectRepository(pool).create("Team A", "proj-a")
    return ApiKeyRepository(pool)


def test_snapshot_lookups_and_revocation_within_ttl(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        repo = await _setup(pool)
        k1 = await repo.create("proj-a")
        clock = ManualClock()
        store = PostgresKeyStore(repo, ttl_s=30, clock=clock)
        await store.start()
        try:
            pk1, sk1 = k1.info.public_key, k1.secret_key
            assert store.verify(pk1, sk1) == PROJECT
            assert await store.verify_async(pk1, sk1) == PROJECT
            assert await store.verify_async(pk1, sk1 + "x") is None
            assert store.verify(pk1, "") is None
            assert await store.verify_async("pk-unknown", "s") is None
            assert await store.verify_async("x" * 300, "s") is None  # never queried

            # created after the snapshot: async looks it up at once ...
            k2 = await repo.create("proj-a")
            assert await store.verify_async(k2.info.public_key, k2.secret_key) == PROJECT
            # ... sync answers "unknown" once and looks it up in the background
            k3 = await repo.create("proj-a")
            assert store.verify(k3.info.public_key, k3.secret_key) is None
            await asyncio.sleep(0.2)
            assert store.verify(k3.info.public_key, k3.secret_key) == PROJECT

            # revoked, no listener (no ``revocations``): still accepted while the answer is
            # younger than the TTL, never after
            await repo.revoke(pk1)
            clock.now = 29.9
            assert await store.verify_async(pk1, sk1) == PROJECT
            clock.now = 30.1
            assert await store.verify_async(pk1, sk1) is None  # stale: looked up again
            await store.refresh_once()
            assert store.verify(pk1, sk1) is None
            assert store.verify(k2.info.public_key, k2.secret_key) == PROJECT

            # last_used_at is written in batches by the refresh
            used = await pool.fetchval(
                "SELECT last_used_at FROM otelfuse.api_keys WHERE public_key = $1",
                k2.info.public_key,
            )
            assert used is not None
        finally:
            await store.stop()

    run_with_pool(migrated_url, body)


def test_a_revocation_is_refused_at_once_by_a_listening_store(migrated_url: str) -> None:
    """``revocations`` given: the NOTIFY of ``revoke`` reaches the store long before its TTL
    (an hour), and a revocation missed while the listening connection was down
    applies once it listens again (the snapshot is reloaded then)."""

    async def body(pool: PgPool) -> None:
        repo = await _setup(pool)
        listen_pool = await create_pool(migrated_url, max_size=1)
        store = PostgresKeyStore(repo, ttl_s=3600, revocations=ApiKeyRepository(listen_pool))
        await store.start()
        try:
            first, second, kept = [await repo.create("proj-a") for _ in range(3)]
            for key in (first, second, kept):
                assert await store.verify_async(key.info.public_key, key.secret_key) == PROJECT
            assert store.verify(first.info.public_key, first.secret_key) == PROJECT
            assert await repo.revoke(first.info.public_key)
            await _until(lambda: store.verify(first.info.public_key, first.secret_key) is None)
            assert await store.verify_async(first.info.public_key, first.secret_key) is None

            listener = await pool.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND query LIKE 'LISTEN %'"
            )
            assert await pool.fetchval("SELECT pg_terminate_backend($1)", listener)
            await repo.revoke(second.info.public_key)  # possibly while nobody listens
            await _until(lambda: store.verify(second.info.public_key, second.secret_key) is None)
            assert store.verify(kept.info.public_key, kept.secret_key) == PROJECT
        finally:
            await store.stop()
            await listen_pool.close()

    run_with_pool(migrated_url, body)


async def _until(check: Callable[[], bool], timeout_s: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not refused in time"
        await asyncio.sleep(0.01)


def test_postgres_down_fails_closed_after_the_ttl(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        repo_pool = await create_pool(migrated_url, max_size=1)
        await _setup(pool)
        key = await ApiKeyRepository(pool).create("proj-a")
        clock = ManualClock()
        store = PostgresKeyStore(ApiKeyRepository(repo_pool), ttl_s=10, clock=clock)
        await store.start()
        try:
            await repo_pool.close()  # PostgreSQL "unreachable" from now on
            pk, sk = key.info.public_key, key.secret_key
            clock.now = 9
            assert await store.verify_async(pk, sk) == PROJECT  # fresh answers still serve
            with pytest.raises(RetryableError):
                await store.verify_async("pk-new", "s")  # unknown keys cannot be checked
            clock.now = 11
            with pytest.raises(RetryableError):
                await store.verify_async(pk, sk)
            with pytest.raises(RetryableError):
                store.verify(pk, sk)
            with pytest.raises(RetryableError):
                await authenticate_async(store, basic_auth(pk, sk))
        finally:
            await store.stop()

    run_with_pool(migrated_url, body)


def test_concurrent_requests_share_one_lookup(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        repo = await _setup(pool)
        store = PostgresKeyStore(repo, ttl_s=30)
        await store.start()
        try:
            key = await repo.create("proj-a")
            calls = 0
            original = repo.find_active

            async def counting(keys: list[str]) -> object:
                nonlocal calls
                calls += 1
                return await original(keys)

            repo.find_active = counting  # type: ignore[method-assign,assignment]
            results = await asyncio.gather(
                *(store.verify_async(key.info.public_key, key.secret_key) for _ in range(20))
            )
            assert results == [PROJECT] * 20
            assert calls == 1
        finally:
            await store.stop()

    run_with_pool(migrated_url, body)


def test_authenticate_async_keeps_synchronous_stores_working() -> None:
    store = StaticKeyStore([("pk", hash_secret("sk"), PROJECT)])
    assert asyncio.run(authenticate_async(store, basic_auth("pk", "sk"))) == PROJECT
    with pytest.raises(Unauthenticated):
        asyncio.run(authenticate_async(store, basic_auth("pk", "nope")))
