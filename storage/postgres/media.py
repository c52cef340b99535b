"""``media``, ``trace_media`` and ``observation_media`` tables: Langfuse media records and the
trace / observation fields that reference them (langfuse/langfuse
``web/src/features/media/server/mediaService.ts``: ``createMediaUploadUrl``, ``getMedia``,
``updateMediaUploadStatus``).

A record is unique per ``(project_id, sha_256_hash)``; its id comes from the hash, so asking
twice for the same content gives the same record, and an upload that failed can be retried
under the same id. Links are idempotent (``ON CONFLICT DO NOTHING``), as Langfuse's raw upserts.

``prune`` removes records no link references any more (their traces were deleted) together
with their blobs: each record is locked (``FOR UPDATE``) and checked again before its blob is
deleted, and a link being inserted meanwhile waits for that lock (its foreign key) and then
fails, so a blob is never deleted while a link to it exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.postgres.pool import PgPool, postgres_errors

__all__ = ["MediaRecord", "MediaRepository", "NewMedia"]


@dataclass(frozen=True, slots=True)
class NewMedia:
    """What ``POST /api/public/media`` knows about content before it is uploaded."""

    project_id: str
    media_id: str
    sha256_hash: str
    bucket_name: str
    bucket_path: str
    content_type: str
    content_length: int


@dataclass(frozen=True, slots=True)
class MediaRecord:
    """One media record; ``upload_http_status`` is None until the upload was reported."""

    project_id: str
    id: str
    sha256_hash: str
    bucket_name: str
    bucket_path: str
    content_type: str
    content_length: int
    uploaded_at: datetime | None
    upload_http_status: int | None
    upload_http_error: str | None


def _record(r: asyncpg.Record) -> MediaRecord:
    return MediaRecord(
        project_id=r["project_id"],
        id=r["id"],
        sha256_hash=r["sha_256_hash"],
        bucket_name=r["bucket_name"],
        bucket_path=r["bucket_path"],
        content_type=r["content_type"],
        content_length=r["content_length"],
        uploaded_at=r["uploaded_at"],
        upload_http_status=r["upload_http_status"],
        upload_http_error=r["upload_http_error"],
    )


class MediaRepository:
    """Reads and writes media records and their links.

    Every method raises ``RetryableError`` (PostgreSQL unreachable) or ``PermanentError``
    (a statement refused, e.g. an unknown project) through ``postgres_errors``.
    """

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    async def get(self, project_id: str, media_id: str) -> MediaRecord | None:
        """The project's record ``media_id``, or None."""
        with postgres_errors("reading media"):
            row = await self._pool.fetchrow(
                "SELECT * FROM media WHERE project_id = $1 AND id = $2", project_id, media_id
            )
        return _record(row) if row is not None else None

    async def find_by_hash(self, project_id: str, sha256_hash: str) -> MediaRecord | None:
        """The project's record of that content, or None."""
        with postgres_errors("reading media"):
            row = await self._pool.fetchrow(
                "SELECT * FROM media WHERE project_id = $1 AND sha_256_hash = $2",
                project_id,
                sha256_hash,
            )
        return _record(row) if row is not None else None

    async def upsert(self, media: NewMedia) -> MediaRecord:
        """Create the record, or point the project's record of that hash at the new location,
        type and length (an earlier upload failed or is being retried); the upload status
        stays as it was until the next report."""
        with postgres_errors("writing media"):
            row = await self._pool.fetchrow(
                """
                INSERT INTO media (project_id, id, sha_256_hash, bucket_name, bucket_path,
                                   content_type, content_length)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (project_id, sha_256_hash) DO UPDATE SET
                    bucket_name = EXCLUDED.bucket_name,
                    bucket_path = EXCLUDED.bucket_path,
                    content_type = EXCLUDED.content_type,
                    content_length = EXCLUDED.content_length,
                    updated_at = now()
                RETURNING *
                """,
                media.project_id,
                media.media_id,
                media.sha256_hash,
                media.bucket_name,
                media.bucket_path,
                media.content_type,
                media.content_length,
            )
        assert row is not None
        return _record(row)

    async def link(
        self,
        project_id: str,
        media_id: str,
        *,
        trace_id: str,
        observation_id: str | None,
        field: str,
    ) -> None:
        """Record that ``field`` of the trace (or of the observation, when given) references
        the media (idempotent)."""
        with postgres_errors("linking media"):
            if observation_id:
                await self._pool.execute(
                    "INSERT INTO observation_media"
                    " (project_id, trace_id, observation_id, media_id, field)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    project_id,
                    trace_id,
                    observation_id,
                    media_id,
                    field,
                )
            else:
                await self._pool.execute(
                    "INSERT INTO trace_media (project_id, trace_id, media_id, field)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    project_id,
                    trace_id,
                    media_id,
                    field,
                )

    async def record_upload(
        self,
        project_id: str,
        media_id: str,
        *,
        uploaded_at: datetime,
        status: int,
        error: str | None,
    ) -> bool:
        """Store the outcome of an upload (the error is dropped for status 200, as Langfuse
        does); False when the project has no such record."""
        with postgres_errors("updating media"):
            done = await self._pool.execute(
                "UPDATE media SET uploaded_at = $3, upload_http_status = $4,"
                " upload_http_error = $5, updated_at = now()"
                " WHERE project_id = $1 AND id = $2",
                project_id,
                media_id,
                uploaded_at,
                status,
                None if status == 200 else error,
            )
        return done.endswith(" 1")

    async def links(self, project_id: str, media_id: str) -> list[tuple[str, str | None, str]]:
        """``(trace_id, observation_id or None, field)`` of every link to the media, sorted."""
        with postgres_errors("reading media links"):
            rows = await self._pool.fetch(
                "SELECT trace_id, NULL::text AS observation_id, field FROM trace_media"
                " WHERE project_id = $1 AND media_id = $2"
                " UNION ALL SELECT trace_id, observation_id, field FROM observation_media"
                " WHERE project_id = $1 AND media_id = $2"
                " ORDER BY 1, 2 NULLS FIRST, 3",
                project_id,
                media_id,
            )
        return [(r["trace_id"], r["observation_id"], r["field"]) for r in rows]

    async def unlink_traces(self, project_id: str, trace_ids: Sequence[str]) -> int:
        """Remove every link of the traces (and of their observations); the number removed."""
        with postgres_errors("unlinking media"):
            async with self._pool.acquire() as conn, conn.transaction():
                traces = await conn.execute(
                    "DELETE FROM trace_media WHERE project_id = $1 AND trace_id = ANY($2)",
                    project_id,
                    list(trace_ids),
                )
                observations = await conn.execute(
                    "DELETE FROM observation_media WHERE project_id = $1 AND trace_id = ANY($2)",
                    project_id,
                    list(trace_ids),
                )
        return int(traces.rsplit(" ", 1)[-1]) + int(observations.rsplit(" ", 1)[-1])

    async def prune(
        self,
        older_than: datetime,
        delete_blob: Callable[[MediaRecord], Awaitable[None]],
        *,
        limit: int = 1000,
    ) -> list[MediaRecord]:
        """Delete up to ``limit`` records that no trace or observation references and that did
        not change since ``older_than``, each after ``delete_blob(record)`` succeeded; returns
        the records deleted. A failing ``delete_blob`` stops the run with its error and leaves
        that record (and the ones after it) in place."""
        unlinked = (
            "NOT EXISTS (SELECT 1 FROM trace_media t WHERE t.project_id = m.project_id"
            " AND t.media_id = m.id) AND NOT EXISTS (SELECT 1 FROM observation_media o"
            " WHERE o.project_id = m.project_id AND o.media_id = m.id)"
        )
        deleted: list[MediaRecord] = []
        with postgres_errors("pruning media"):
            async with self._pool.acquire() as conn:
                candidates = await conn.fetch(
                    f"SELECT project_id, id FROM media m WHERE updated_at < $1 AND {unlinked}"
                    " ORDER BY updated_at LIMIT $2",
                    older_than,
                    limit,
                )
                for candidate in candidates:
                    async with conn.transaction():
                        row = await conn.fetchrow(
                            "SELECT * FROM media WHERE project_id = $1 AND id = $2"
                            " AND updated_at < $3 FOR UPDATE",
                            candidate["project_id"],
                            candidate["id"],
                            older_than,
                        )
                        still = await conn.fetchval(  # a new statement sees committed links
                            f"SELECT {unlinked} FROM media m WHERE m.project_id = $1 AND m.id = $2",
                            candidate["project_id"],
                            candidate["id"],
                        )
                        if row is None or not still:
                            continue
                        record = _record(row)
                        await delete_blob(record)
                        await conn.execute(
                            "DELETE FROM media WHERE project_id = $1 AND id = $2",
                            record.project_id,
                            record.id,
                        )
                        deleted.append(record)
        return deleted
