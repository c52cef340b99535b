"""The media routes when the S3 blob store is down: retryable 503 + ``Retry-After``
(``ingest/errors.py``), never a 500 or a record of an upload that did not happen. A real
PostgreSQL holds the records; the S3 endpoint is a loopback port nobody listens on."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import httpx

from ingest.api.media import Media, media_id_of
from ingest.api.media_tokens import MediaTokens
from ingest.api.media_types import MediaConfig
from ingest.http.app import create_app
from storage.auth import Project, StaticKeyStore, hash_secret
from storage.blobs import S3Config
from storage.blobs.s3 import S3BlobStore
from storage.postgres.media import MediaRepository, NewMedia
from storage.postgres.pool import PgPool
from storage.postgres.projects import ProjectRepository
from tests.support.postgres import run_with_pool
from tests.support.service import basic_auth, free_port

DATA = b"\x89PNG" + b"x" * 100
SHA = base64.b64encode(hashlib.sha256(DATA).digest()).decode()


async def _healthy() -> str | None:
    return None


def test_s3_down_is_a_retryable_503(migrated_url: str) -> None:
    async def body(pool: PgPool) -> None:
        await ProjectRepository(pool).create("A", "proj-a")
        repo = MediaRepository(pool)
        media_id = media_id_of(SHA)
        key = f"proj-a/{media_id}.png"
        await repo.upsert(NewMedia("proj-a", media_id, SHA, "b", key, "image/png", len(DATA)))
        store = S3BlobStore(  # no region: presigning asks the server for it
            S3Config(endpoint=f"http://127.0.0.1:{free_port()}", access_key="k", secret_key="s")
        )
        keys = StaticKeyStore([("pk", hash_secret("sk"), Project("proj-a"))])
        media = Media(repo, store, keys, MediaConfig(), MediaTokens(b"k" * 32))
        app = create_app(media.routes(), _healthy)
        auth = {"Authorization": basic_auth("pk", "sk")}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://otelfuse"
        ) as client:
            ask = {
                "traceId": "t",
                "contentType": "image/png",
                "contentLength": len(DATA),
                "sha256Hash": SHA,
                "field": "input",
            }
            created = await client.post("/api/public/media", json=ask, headers=auth)
            assert created.status_code == 503, created.text
            assert created.headers["Retry-After"] == "1"
            report = {"uploadedAt": datetime.now(UTC).isoformat(), "uploadHttpStatus": 200}
            patched = await client.patch(f"/api/public/media/{media_id}", json=report, headers=auth)
            assert patched.status_code == 503, patched.text
        record = await repo.get("proj-a", media_id)
        assert record is not None and record.upload_http_status is None  # nothing recorded
        await store.close()

    run_with_pool(migrated_url, body)
