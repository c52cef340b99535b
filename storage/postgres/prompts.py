"""``prompts`` table (Langfuse prompt management) and ``PromptResolver`` for ingestion.

A prompt is identified by ``(project_id, name, version)``; versions count from 1 per name.
Labels are unique per name: giving a label to a new version moves it there, and the newest
version always carries ``latest`` (Langfuse's behaviour).

Generations that name the prompt they used (``langfuse.observation.prompt.name`` /
``.version``) get its ``prompt_id``, as Langfuse's ingestion does: ``PromptResolver`` answers
``(project, name, version) -> id`` from a TTL cache (default 10 s, ``OTELFUSE_MODEL_CACHE_TTL_S``)
filled by one query per batch of unknown keys; "no such prompt" is cached too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.errors import PermanentError
from storage.postgres.cache import BatchTTLCache
from storage.postgres.pool import LoopBridge, PgPool, postgres_errors

__all__ = ["PromptKey", "PromptRepository", "PromptResolver", "PromptRow"]

PromptKey = tuple[str, str, int]
"""``(project_id, prompt name, version)``."""

_PROMPT_TYPES = ("text", "chat")


@dataclass(frozen=True, slots=True)
class PromptRow:
    """One prompt version."""

    id: str
    project_id: str
    name: str
    version: int
    type: str
    prompt: Any
    config: Any
    labels: tuple[str, ...]
    tags: tuple[str, ...]
    commit_message: str | None
    created_at: datetime


def _row(r: asyncpg.Record) -> PromptRow:
    return PromptRow(
        id=r["id"],
        project_id=r["project_id"],
        name=r["name"],
        version=r["version"],
        type=r["type"],
        prompt=r["prompt"],
        config=r["config"],
        labels=tuple(r["labels"]),
        tags=tuple(r["tags"]),
        commit_message=r["commit_message"],
        created_at=r["created_at"],
    )


class PromptRepository:
    """Reads and writes ``prompts``."""

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    async def create(
        self,
        project_id: str,
        name: str,
        prompt: Any,
        *,
        type: str = "text",
        labels: Sequence[str] = (),
        config: Any = None,
        tags: Sequence[str] = (),
        commit_message: str | None = None,
    ) -> PromptRow:
        """Store the next version of prompt ``name``.

        Raises:
            ValueError: bad name, type or prompt shape.
            PermanentError: the project does not exist.
        """
        if not name or len(name) > 512 or "\x00" in name:
            raise ValueError("prompt name must be 1-512 characters")
        if type not in _PROMPT_TYPES:
            raise ValueError("prompt type must be 'text' or 'chat'")
        if type == "text" and not isinstance(prompt, str):
            raise ValueError("a text prompt must be a string")
        if type == "chat" and not isinstance(prompt, list):
            raise ValueError("a chat prompt must be a list of messages")
        new_labels = sorted({*labels, "latest"})
        with postgres_errors("creating a prompt"):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    # Serialise versions of one name (advisory lock for this transaction).
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
                        project_id,
                        name,
                    )
                    await conn.execute(
                        "UPDATE prompts SET labels = array(SELECT unnest(labels) EXCEPT"
                        " SELECT unnest($3::text[])), updated_at = now()"
                        " WHERE project_id = $1 AND name = $2 AND labels && $3::text[]",
                        project_id,
                        name,
                        new_labels,
                    )
                    record = await conn.fetchrow(
                        "INSERT INTO prompts (id, project_id, name, version, type, prompt, config,"
                        " labels, tags, commit_message)"
                        " SELECT $1, $2, $3, COALESCE(MAX(version), 0) + 1, $4, $5, $6, $7, $8, $9"
                        " FROM prompts WHERE project_id = $2 AND name = $3 RETURNING *",
                        uuid.uuid4().hex,
                        project_id,
                        name,
                        type,
                        prompt,
                        config if config is not None else {},
                        new_labels,
                        sorted(set(tags)),
                        commit_message,
                    )
            except asyncpg.ForeignKeyViolationError:
                raise PermanentError(f"project {project_id} does not exist") from None
        assert record is not None
        return _row(record)

    async def get(
        self, project_id: str, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptRow | None:
        """A version by number, else by label (default ``production``, Langfuse's default)."""
        with postgres_errors("reading a prompt"):
            if version is not None:
                record = await self._pool.fetchrow(
                    "SELECT * FROM prompts WHERE project_id = $1 AND name = $2 AND version = $3",
                    project_id,
                    name,
                    version,
                )
            else:
                record = await self._pool.fetchrow(
                    "SELECT * FROM prompts WHERE project_id = $1 AND name = $2"
                    " AND $3 = ANY(labels) ORDER BY version DESC LIMIT 1",
                    project_id,
                    name,
                    label or "production",
                )
        return _row(record) if record is not None else None

    async def ids_for(self, keys: Sequence[PromptKey]) -> dict[PromptKey, str]:
        """The ids of the existing ``(project, name, version)`` among ``keys`` (one query)."""
        wanted = sorted({k for k in keys if _plausible(k)})
        if not wanted:
            return {}
        with postgres_errors("resolving prompt ids"):
            records = await self._pool.fetch(
                "SELECT p.id, p.project_id, p.name, p.version FROM prompts p"
                " JOIN unnest($1::text[], $2::text[], $3::int[]) AS q(project_id, name, version)"
                " ON p.project_id = q.project_id AND p.name = q.name AND p.version = q.version",
                [k[0] for k in wanted],
                [k[1] for k in wanted],
                [k[2] for k in wanted],
            )
        return {(r["project_id"], r["name"], r["version"]): r["id"] for r in records}


def _plausible(key: PromptKey) -> bool:
    project_id, name, version = key
    return (
        0 < version < 2**31
        and 0 < len(name) <= 512
        and "\x00" not in name
        and 0 < len(project_id) <= 128
    )


class PromptResolver:
    """Cached ``(project, name, version) -> prompt id`` for the enrichment worker thread.

    Args:
        prompts: the repository; its pool belongs to ``bridge.loop``.
        bridge: runs the lookups on the pool's loop from the worker thread.
        ttl_s: how long an answer (found or not) is reused: a prompt created after a
            generation referencing it is linked for generations arriving ``ttl_s`` later.
        timeout_s: longest wait for PostgreSQL per batch.
        max_entries: cached keys (least recently used dropped beyond it).
        clock: monotonic seconds (tests).
    """

    def __init__(
        self,
        prompts: PromptRepository,
        bridge: LoopBridge,
        *,
        ttl_s: float = 10.0,
        timeout_s: float = 5.0,
        max_entries: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prompts = prompts
        self._bridge = bridge
        self._timeout = timeout_s
        self._cache: BatchTTLCache[PromptKey, str | None] = BatchTTLCache(
            self._load,
            default=None,
            name="prompt",
            ttl_s=ttl_s,
            max_entries=max_entries,
            clock=clock,
        )

    def resolve_many(self, keys: Sequence[PromptKey]) -> dict[PromptKey, str | None]:
        """Ids of ``keys`` (None: no such prompt). Blocks the calling (worker) thread for at
        most one query when some keys are not cached.

        Raises:
            RetryableError: PostgreSQL unreachable and some keys are not cached at all
                (stale answers are used while PostgreSQL is down).
        """
        return self._cache.get_many(keys)

    def _load(self, missing: list[PromptKey]) -> Mapping[PromptKey, str | None]:
        return self._bridge.call(lambda: self._prompts.ids_for(missing), self._timeout)
