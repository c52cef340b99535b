"""Langfuse media end to end: ``otelfuse run`` with PostgreSQL, once with the local blob store
(the all-in-one default) and once with S3 (a real SeaweedFS, docs/reference/test-services.md
§9), driven by the real Langfuse Python SDK 5 and by hand.

The SDK finds the media in a generation (an OpenAI-style data URI, an Anthropic-style base64
block, a ``LangfuseMedia`` object), asks ``POST /api/public/media`` for upload URLs, uploads
with its own headers and reports with ``PATCH``; the stored observation keeps the reference
strings, and the URL of ``GET /api/public/media/{id}`` serves bytes with the same SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.api.media import media_id_of
from storage.postgres.media import MediaRepository
from storage.postgres.pool import PgPool
from tests.support.clients import run_client
from tests.support.postgres import Postgres, cli_env, run_with_pool
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, SeaweedFS
from tests.support.service import Service, otelfuse_cli, start_service


@dataclass
class Stack:
    service: Service
    pg_url: str
    backend: str
    env: dict[str, str]
    """The settings of the service (PostgreSQL, blob store), for CLI runs."""

    def post(self, body: dict[str, Any], auth: str | None = None) -> httpx.Response:
        headers = {"Authorization": self.service.authorization if auth is None else auth}
        return self.service.client.post("/api/public/media", json=body, headers=headers)

    def links(self, media_id: str) -> list[tuple[str, str | None, str]]:
        async def read(pool: PgPool) -> list[tuple[str, str | None, str]]:
            return await MediaRepository(pool).links(self.service.project_id, media_id)

        return run_with_pool(self.pg_url, read)


@pytest.fixture(scope="module", params=["local", "s3"])
def stack(
    request: pytest.FixtureRequest,
    postgres_server: Postgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    url = postgres_server.create_database("media")
    env = {"OTELFUSE_POSTGRES_URL": url}
    if request.param == "s3":
        s3: SeaweedFS = request.getfixturevalue("s3_server")
        env |= {
            "OTELFUSE_BLOB_BACKEND": "s3",
            "OTELFUSE_S3_ENDPOINT": s3.endpoint,
            "OTELFUSE_S3_BUCKET": f"media-{uuid.uuid4().hex[:8]}",
            "OTELFUSE_S3_PREFIX": "otelfuse/",
            "OTELFUSE_S3_REGION": REGION,
            "OTELFUSE_S3_ACCESS_KEY": ACCESS_KEY,
            "OTELFUSE_S3_SECRET_KEY": SECRET_KEY,
        }
    data_dir = Path(tmp_path_factory.mktemp(f"media-{request.param}"))
    service = start_service(data_dir, env)
    yield Stack(service, url, request.param, cli_env(url, data_dir, **env))
    code = service.stop()
    assert code == 0, service.log()


def _sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _ask(data: bytes, content_type: str = "image/png", **extra: Any) -> dict[str, Any]:
    return {
        "traceId": uuid.uuid4().hex,
        "contentType": content_type,
        "contentLength": len(data),
        "sha256Hash": _sha(data),
        "field": "input",
        **extra,
    }


def _sdk_headers(data: bytes, content_type: str) -> dict[str, str]:
    """What langfuse/_task_manager/media_manager.py sends with the upload."""
    return {
        "Content-Type": content_type,
        "x-ms-blob-type": "BlockBlob",
        "x-amz-checksum-sha256": _sha(data),
    }


def test_sdk_uploads_media_and_get_serves_the_same_bytes(stack: Stack) -> None:
    service = stack.service
    out = run_client("langfuse_media", env=service.langfuse_env())
    observation = service.get_json(f"/api/public/observations/{out['observation_id']}")
    stored = str(observation["input"]) + str(observation["output"]) + str(observation["metadata"])
    assert "base64," not in stored  # the SDK replaced the content by references
    for media in out["media"]:
        digest = bytes.fromhex(media["sha256"])
        media_id = media_id_of(base64.b64encode(digest).decode())
        reference = (
            f"@@@langfuseMedia:type={media['content_type']}|id={media_id}"
            f"|source={media['source']}@@@"
        )
        assert reference in stored, (reference, stored[:2000])
        record = service.get_json(f"/api/public/media/{media_id}")
        assert record["mediaId"] == media_id
        assert record["contentType"] == media["content_type"]
        assert record["uploadedAt"] and record["urlExpiry"].endswith("Z")
        fetched = httpx.get(record["url"], timeout=30)
        assert fetched.status_code == 200, fetched.text
        assert len(fetched.content) == record["contentLength"]
        assert hashlib.sha256(fetched.content).digest() == digest
        field = {"image/png": "input", "image/jpeg": "output"}.get(
            media["content_type"], "metadata"
        )
        assert stack.links(media_id) == [(out["trace_id"], out["observation_id"], field)]


def test_known_content_gets_no_upload_url_but_a_new_link(stack: Stack) -> None:
    data = b"%PDF-1.4\n" + os.urandom(5000)
    first = stack.post(_ask(data, "application/pdf"))
    assert first.status_code == 201, first.text
    media_id, url = first.json()["mediaId"], first.json()["uploadUrl"]
    assert media_id == media_id_of(_sha(data)) and url
    # not uploaded yet: asking again gives an upload URL again, and GET says so
    assert stack.post(_ask(data, "application/pdf")).json()["uploadUrl"]
    assert service_get(stack, media_id).json() == {"message": "Media not yet uploaded"}
    put = httpx.put(url, content=data, headers=_sdk_headers(data, "application/pdf"))
    assert put.status_code == 200, put.text
    patch = stack.service.client.patch(
        f"/api/public/media/{media_id}",
        json={"uploadedAt": "2026-12-02T10:00:00Z", "uploadHttpStatus": 200, "uploadTimeMs": 5},
        headers={"Authorization": stack.service.authorization},
    )
    assert patch.status_code == 200, patch.text
    again = stack.post(_ask(data, "application/pdf", observationId="obs-1", field="output"))
    assert again.status_code == 201
    assert again.json() == {"uploadUrl": None, "mediaId": media_id}
    traces = {link[0] for link in stack.links(media_id)}
    assert len(traces) == 3
    assert ("obs-1", "output") in {(link[1], link[2]) for link in stack.links(media_id)}
    record = service_get(stack, media_id).json()
    assert record["uploadedAt"].startswith("2026-12-02T10:00:00")
    assert (
        hashlib.sha256(httpx.get(record["url"]).content).hexdigest()
        == hashlib.sha256(data).hexdigest()
    )


def service_get(stack: Stack, media_id: str) -> httpx.Response:
    return stack.service.get(f"/api/public/media/{media_id}")


def test_wrong_bytes_are_refused_and_never_served(stack: Stack) -> None:
    data = os.urandom(2000)
    asked = stack.post(_ask(data))
    media_id, url = asked.json()["mediaId"], asked.json()["uploadUrl"]
    forged = os.urandom(2000)  # same length, other content, the announced checksum
    put = httpx.put(url, content=forged, headers=_sdk_headers(data, "image/png"))
    assert put.status_code == 400, put.text
    longer = httpx.put(url, content=data + b"x", headers=_sdk_headers(data, "image/png"))
    assert longer.status_code in (400, 413), longer.text
    # an SDK that claims success anyway is not believed
    patch = stack.service.client.patch(
        f"/api/public/media/{media_id}",
        json={"uploadedAt": "2026-12-02T10:00:00Z", "uploadHttpStatus": 200},
        headers={"Authorization": stack.service.authorization},
    )
    assert patch.status_code == 400, patch.text
    answer = service_get(stack, media_id)
    assert answer.status_code == 404
    assert answer.json()["message"].startswith("Media upload failed with status 400")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"contentType": "image/x-nope"}, "Invalid content type. Only supporting image/png"),
        ({"contentLength": 2_000_000_000}, "File size must be less than 1000000000 bytes"),
        ({"contentLength": 0}, "contentLength must be a positive integer"),
        ({"sha256Hash": "abc"}, "Must be a 44 character base64 encoded SHA-256 hash"),
        ({"field": "expectedOutput"}, "Invalid field. Only supporting input, output, metadata"),
        ({"traceId": None}, "traceId must be a string"),
    ],
)
def test_invalid_requests_are_400_with_the_reason(
    stack: Stack, change: dict[str, Any], message: str
) -> None:
    answer = stack.post({**_ask(b"x" * 10), **change})
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["message"]


def test_credentials_and_unknown_ids(stack: Stack) -> None:
    assert stack.post(_ask(b"abc"), auth="Basic bm86bm8=").status_code == 401
    assert service_get(stack, "no-such-media").status_code == 404
    patch = stack.service.client.patch(
        "/api/public/media/no-such-media",
        json={"uploadedAt": "2026-12-02T10:00:00Z", "uploadHttpStatus": 200},
        headers={"Authorization": stack.service.authorization},
    )
    assert patch.status_code == 404


def test_deleting_the_trace_unlinks_and_prune_removes_the_blob(stack: Stack) -> None:
    data = os.urandom(3000)
    ask = _ask(data, observationId="obs-9")
    asked = stack.post(ask).json()
    media_id = asked["mediaId"]
    assert httpx.put(asked["uploadUrl"], content=data, headers=_sdk_headers(data, "image/png"))
    report = {"uploadedAt": "2026-12-02T10:00:00Z", "uploadHttpStatus": 200}
    auth = {"Authorization": stack.service.authorization}
    assert stack.service.client.patch(f"/api/public/media/{media_id}", json=report, headers=auth)
    url = service_get(stack, media_id).json()["url"]
    assert httpx.get(url).content == data
    kept = otelfuse_cli(["media", "prune", "--older-than-hours", "0", "--json"], stack.env)
    assert media_id not in kept.stdout  # still linked
    deleted = stack.service.client.delete(f"/api/public/traces/{ask['traceId']}", headers=auth)
    assert deleted.status_code == 200, deleted.text
    assert stack.links(media_id) == []
    pruned = otelfuse_cli(["media", "prune", "--older-than-hours", "0", "--json"], stack.env)
    assert {"projectId": stack.service.project_id, "mediaId": media_id} in json.loads(pruned.stdout)
    assert service_get(stack, media_id).status_code == 404
    assert httpx.get(url).status_code in (403, 404)  # the blob is gone
