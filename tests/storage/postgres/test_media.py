"""``MediaRepository``: one record per content and project, idempotent links, upload reports,
trace unlinking (against a real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.errors import RetryableError
from storage.postgres.media import MediaRecord, MediaRepository, NewMedia
from storage.postgres.pool import PgPool
from storage.postgres.projects import ProjectRepository
from tests.support.postgres import run_with_pool

SHA = "A" * 43 + "="


def _new(project: str, path: str = "p/x.png", content_type: str = "image/png") -> NewMedia:
    return NewMedia(project, "AAAAAAAAAAAAAAAAAAAAAA", SHA, "local", path, content_type, 10)


def test_records_links_and_reports(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        await ProjectRepository(pool).create("A", "proj-a")
        await ProjectRepository(pool).create("B", "proj-b")
        media = MediaRepository(pool)
        first = await media.upsert(_new("proj-a"))
        again = await media.upsert(_new("proj-a", "p/x.jpg", "image/jpeg"))
        assert (again.id, again.bucket_path, again.content_type) == (
            first.id,
            "p/x.jpg",
            "image/jpeg",
        )
        assert await media.get("proj-b", first.id) is None  # another project's
        assert (await media.find_by_hash("proj-a", SHA)) == again
        for _ in range(2):
            await media.link("proj-a", first.id, trace_id="t1", observation_id=None, field="input")
            await media.link("proj-a", first.id, trace_id="t1", observation_id="o1", field="output")
        await media.link("proj-a", first.id, trace_id="t2", observation_id=None, field="metadata")
        assert await media.links("proj-a", first.id) == [
            ("t1", None, "input"),
            ("t1", "o1", "output"),
            ("t2", None, "metadata"),
        ]
        when = datetime(2026, 12, 2, 10, tzinfo=UTC)
        assert await media.record_upload(
            "proj-a", first.id, uploaded_at=when, status=200, error="ignored on success"
        )
        stored = await media.get("proj-a", first.id)
        assert stored is not None
        assert (stored.uploaded_at, stored.upload_http_status, stored.upload_http_error) == (
            when,
            200,
            None,
        )
        assert not await media.record_upload(
            "proj-b", first.id, uploaded_at=when, status=200, error=None
        )
        assert await media.unlink_traces("proj-a", ["t1"]) == 2
        assert await media.links("proj-a", first.id) == [("t2", None, "metadata")]

    run_with_pool(migrated_url, body)


def test_prune_deletes_only_unreferenced_records_after_their_blob(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        await ProjectRepository(pool).create("A", "proj-a")
        media = MediaRepository(pool)
        linked = await media.upsert(_new("proj-a"))
        other = NewMedia("proj-a", "B" * 22, "B" * 43 + "=", "local", "p/b.png", "image/png", 5)
        orphan = await media.upsert(other)
        await media.link("proj-a", linked.id, trace_id="t", observation_id=None, field="input")
        later = datetime.now(UTC) + timedelta(hours=1)
        blobs: list[str] = []

        async def refuse(record: MediaRecord) -> None:
            raise RetryableError("S3 down")

        with pytest.raises(RetryableError):
            await media.prune(later, refuse)
        assert await media.get("proj-a", orphan.id) is not None  # kept: its blob is still there

        async def delete(record: MediaRecord) -> None:
            blobs.append(record.bucket_path)

        assert await media.prune(datetime.now(UTC) - timedelta(hours=1), delete) == []  # too new
        assert [r.id for r in await media.prune(later, delete)] == [orphan.id]
        assert blobs == ["p/b.png"]
        assert await media.get("proj-a", orphan.id) is None
        assert await media.get("proj-a", linked.id) is not None

    run_with_pool(migrated_url, body)
