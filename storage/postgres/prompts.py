"""``prompts`` table (Langfuse prompt management) and ``PromptResolver`` for ingestion.

A prompt is identified by ``(project_id, name, version)``; versions count from 1 per name.
Every change follows Langfuse's actions (langfuse/langfuse
``web/src/features/prompts/server/actions/{createPrompt,updatePrompts,deletePrompt,
getPromptsMeta}.ts``):

- a create stores the next version and gives it ``latest``; a label is unique per name, so
  giving a label to one version removes it from the others; tags are shared by all versions
  (a create without ``tags`` keeps the prompt's tags); the type of a name never changes;
- a label update only adds labels to the version (and moves them there);
- a delete removes all versions, one version or the versions with a label; when ``latest``
  goes, the highest remaining version gets it.

Each change runs in one transaction holding an advisory lock on ``(project, name)``, so
concurrent changes of one prompt are serialised and labels stay unique.

Generations that name the prompt they used (``langfuse.observation.prompt.name`` /
``.version``) get its ``prompt_id``, as Langfuse's ingestion does: ``PromptResolver`` answers
``(project, name, version) -> id`` from a TTL cache (default 10 s, ``OTELFUSE_MODEL_CACHE_TTL_S``)
filled by one query per batch of unknown keys; "no such prompt" is cached too.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.errors import BadRequest, NotFound
from storage.postgres.cache import BatchTTLCache
from storage.postgres.pool import LoopBridge, PgConnection, PgPool, postgres_errors
from storage.postgres.prompt_defs import (
    LATEST,
    PRODUCTION,
    PromptDefinition,
    PromptMetaRow,
    StoredPrompt,
)

__all__ = [
    "PromptFilter",
    "PromptKey",
    "PromptRepository",
    "PromptResolver",
]

PromptKey = tuple[str, str, int]
"""``(project_id, prompt name, version)``."""

_PROMPT_TYPES = ("text", "chat")


@dataclass(frozen=True, slots=True)
class PromptFilter:
    """Filters of the prompt list; each applies to versions (Langfuse ``getPromptsMeta``)."""

    name: str | None = None
    version: int | None = None
    label: str | None = None
    tag: str | None = None
    from_updated_at: datetime | None = None
    """``updated_at >=``"""
    to_updated_at: datetime | None = None
    """``updated_at <``"""


def _row(r: asyncpg.Record) -> StoredPrompt:
    return StoredPrompt(
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
        updated_at=r["updated_at"],
    )


async def _remove_labels(
    conn: PgConnection, project_id: str, name: str, labels: Sequence[str]
) -> None:
    """Take ``labels`` off every version of ``name`` (they are about to move)."""
    await conn.execute(
        "UPDATE prompts SET labels = array(SELECT l FROM unnest(labels) AS l"
        " WHERE l <> ALL($3::text[])), updated_at = now()"
        " WHERE project_id = $1 AND name = $2 AND labels && $3::text[]",
        project_id,
        name,
        list(labels),
    )


class PromptRepository:
    """Reads and writes ``prompts``."""

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    @contextlib.asynccontextmanager
    async def _changing(self, project_id: str, name: str) -> AsyncIterator[PgConnection]:
        """A connection in a transaction holding the advisory lock of ``(project, name)``, so
        changes of one prompt are serialised."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
                project_id,
                name,
            )
            yield conn

    async def create(
        self,
        project_id: str,
        name: str,
        prompt: Any,
        *,
        type: str = "text",
        labels: Sequence[str] = (),
        config: Any = None,
        tags: Sequence[str] | None = None,
        commit_message: str | None = None,
    ) -> StoredPrompt:
        """Store the next version of prompt ``name`` (module docstring).

        ``prompt`` must already be valid for the API (``prompt_defs.parse_prompt_definition``);
        only its kind is checked here.

        Raises:
            BadRequest: ``type`` unknown, ``prompt`` not of that type, or the prompt's
                previous versions have another type.
            NotFound: the project does not exist.
        """
        if type not in _PROMPT_TYPES:
            raise BadRequest("prompt type must be 'text' or 'chat'")
        if type == "text" and not isinstance(prompt, str):
            raise BadRequest("a text prompt must be a string")
        if type == "chat" and not isinstance(prompt, list):
            raise BadRequest("a chat prompt must be a list of messages")
        new_labels = list(dict.fromkeys([*labels, LATEST]))
        with postgres_errors("creating a prompt"):
            try:
                async with self._changing(project_id, name) as conn:
                    last = await conn.fetchrow(
                        "SELECT version, type, tags FROM prompts WHERE project_id = $1"
                        " AND name = $2 ORDER BY version DESC LIMIT 1",
                        project_id,
                        name,
                    )
                    if last is not None and last["type"] != type:
                        raise BadRequest(
                            "Previous versions have different prompt type. Create a new prompt"
                            " with a different name."
                        )
                    new_tags = list(dict.fromkeys(tags if tags is not None else ()))
                    if tags is None and last is not None:
                        new_tags = list(last["tags"])
                    elif last is not None and sorted(new_tags) != sorted(last["tags"]):
                        await conn.execute(
                            "UPDATE prompts SET tags = $3, updated_at = now()"
                            " WHERE project_id = $1 AND name = $2",
                            project_id,
                            name,
                            new_tags,
                        )
                    await _remove_labels(conn, project_id, name, new_labels)
                    record = await conn.fetchrow(
                        "INSERT INTO prompts (id, project_id, name, version, type, prompt, config,"
                        " labels, tags, commit_message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                        " $9, $10) RETURNING *",
                        str(uuid.uuid4()),
                        project_id,
                        name,
                        (last["version"] if last is not None else 0) + 1,
                        type,
                        prompt,
                        config if config is not None else {},
                        new_labels,
                        new_tags,
                        commit_message,
                    )
            except asyncpg.ForeignKeyViolationError:
                raise NotFound(f"project {project_id} does not exist") from None
        assert record is not None
        return _row(record)

    async def create_definition(
        self, project_id: str, definition: PromptDefinition
    ) -> StoredPrompt:
        """``create`` from a validated ``PromptDefinition`` (the API's path).

        Raises:
            BadRequest, NotFound: as ``create``.
        """
        return await self.create(
            project_id,
            definition.name,
            definition.prompt,
            type=definition.type,
            labels=definition.labels,
            config=definition.config,
            tags=definition.tags,
            commit_message=definition.commit_message,
        )

    async def get(
        self, project_id: str, name: str, *, version: int | None = None, label: str | None = None
    ) -> StoredPrompt | None:
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
                    label or PRODUCTION,
                )
        return _row(record) if record is not None else None

    async def list_meta(
        self, project_id: str, where: PromptFilter, *, offset: int, limit: int
    ) -> tuple[list[PromptMetaRow], int]:
        """One page of prompt names (ordered by name) whose versions match ``where``, and the
        number of such names."""
        conditions, args = _filter_sql(project_id, where)
        matching = f"SELECT * FROM prompts WHERE {' AND '.join(conditions)}"
        n = len(args)
        page_sql = (
            f"WITH v AS MATERIALIZED ({matching}),"
            " page AS (SELECT name, array_agg(version ORDER BY version) AS versions,"
            " max(updated_at) AS last_updated_at FROM v GROUP BY name"
            f" ORDER BY name LIMIT ${n + 1} OFFSET ${n + 2})"
            " SELECT page.*, latest.type, latest.config, latest.tags,"
            " array(SELECT DISTINCT l FROM v, unnest(v.labels) AS l WHERE v.name = page.name"
            " ORDER BY l) AS labels"
            " FROM page CROSS JOIN LATERAL (SELECT type, config, tags FROM v"
            " WHERE v.name = page.name ORDER BY version DESC LIMIT 1) AS latest"
            " ORDER BY page.name"
        )
        with postgres_errors("listing prompts"):
            async with self._pool.acquire() as conn:
                records = await conn.fetch(page_sql, *args, limit, offset)
                total = await conn.fetchval(
                    f"SELECT count(DISTINCT name) FROM ({matching}) AS v", *args
                )
        rows = [
            PromptMetaRow(
                name=r["name"],
                type=r["type"],
                versions=tuple(r["versions"]),
                labels=tuple(r["labels"]),
                tags=tuple(r["tags"]),
                last_updated_at=r["last_updated_at"],
                last_config=r["config"],
            )
            for r in records
        ]
        return rows, int(total)

    async def add_labels(
        self, project_id: str, name: str, version: int, labels: Sequence[str]
    ) -> StoredPrompt | None:
        """Give ``labels`` to version ``version`` of ``name`` (keeping its labels), taking them
        off the other versions; None when there is no such version."""
        with postgres_errors("updating prompt labels"):
            async with self._changing(project_id, name) as conn:
                current = await conn.fetchrow(
                    "SELECT labels FROM prompts WHERE project_id = $1 AND name = $2"
                    " AND version = $3",
                    project_id,
                    name,
                    version,
                )
                if current is None:
                    return None
                merged = list(dict.fromkeys([*labels, *current["labels"]]))
                await _remove_labels(conn, project_id, name, labels)
                record = await conn.fetchrow(
                    "UPDATE prompts SET labels = $4, updated_at = now() WHERE project_id = $1"
                    " AND name = $2 AND version = $3 RETURNING *",
                    project_id,
                    name,
                    version,
                    merged,
                )
        return _row(record) if record is not None else None

    async def delete(
        self, project_id: str, name: str, *, version: int | None = None, label: str | None = None
    ) -> int:
        """Delete every version of ``name``, or version ``version``, or the versions labelled
        ``label``; returns how many were deleted (0: nothing matched). When ``latest`` is
        deleted, the highest remaining version gets it."""
        with postgres_errors("deleting a prompt"):
            async with self._changing(project_id, name) as conn:
                deleted = await conn.fetch(
                    "DELETE FROM prompts WHERE project_id = $1 AND name = $2"
                    " AND ($3::int IS NULL OR version = $3)"
                    " AND ($4::text IS NULL OR $4 = ANY(labels)) RETURNING labels",
                    project_id,
                    name,
                    version,
                    label,
                )
                if any(LATEST in r["labels"] for r in deleted):
                    await conn.execute(
                        "UPDATE prompts SET labels = array_append(labels, $3), updated_at = now()"
                        " WHERE id = (SELECT id FROM prompts WHERE project_id = $1 AND name = $2"
                        " ORDER BY version DESC LIMIT 1) AND NOT $3 = ANY(labels)",
                        project_id,
                        name,
                        LATEST,
                    )
        return len(deleted)

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


def _filter_sql(project_id: str, where: PromptFilter) -> tuple[list[str], list[Any]]:
    """SQL conditions over ``prompts`` with their ``$n`` arguments."""
    conditions = ["project_id = $1"]
    args: list[Any] = [project_id]
    for value, sql in (
        (where.name, "name = ${}"),
        (where.version, "version = ${}"),
        (where.label, "${} = ANY(labels)"),
        (where.tag, "${} = ANY(tags)"),
        (where.from_updated_at, "updated_at >= ${}"),
        (where.to_updated_at, "updated_at < ${}"),
    ):
        if value is not None:
            args.append(value)
            conditions.append(sql.format(len(args)))
    return conditions, args


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
