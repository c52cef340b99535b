"""The media routes a role mounts and documents: S3 (presigned URLs) serves POST/GET/PATCH; the
local store adds the token upload and download routes, documented as public (the token is the
credential)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.api.media import Media
from ingest.api.media_tokens import MediaTokens
from ingest.api.media_types import MediaConfig
from ingest.http.app import create_app
from ingest.http.openapi import openapi_document
from storage.auth import StaticKeyStore
from storage.blobs import BlobStore, LocalBlobStore, S3Config
from storage.blobs.s3 import S3BlobStore
from storage.postgres.media import MediaRepository


async def _healthy() -> str | None:
    return None


def _document(store: BlobStore) -> dict[str, Any]:
    unused: Any = None
    repo: MediaRepository = unused  # routes are built, never called
    media = Media(repo, store, StaticKeyStore([]), MediaConfig(), MediaTokens(b"k" * 32))
    return openapi_document(create_app(media.routes(), _healthy).routes)


def _operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        if "media" in path
        for method in item
    }


def test_s3_media_routes(tmp_path: Path) -> None:
    document = _document(S3BlobStore(S3Config(access_key="k", secret_key="s")))
    assert _operations(document) == {
        ("post", "/api/public/media"),
        ("get", "/api/public/media/{mediaId}"),
        ("patch", "/api/public/media/{mediaId}"),
    }
    response = document["paths"]["/api/public/media"]["post"]["responses"]["201"]
    schema = response["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/GetMediaUploadUrlResponse"}
    assert document["components"]["schemas"]["GetMediaResponse"]["required"] == [
        "mediaId",
        "contentType",
        "contentLength",
        "uploadedAt",
        "url",
        "urlExpiry",
    ]


def test_local_media_routes_add_the_token_routes(tmp_path: Path) -> None:
    document = _document(LocalBlobStore(tmp_path))
    assert ("put", "/api/public/media/{mediaId}/upload") in _operations(document)
    assert ("get", "/api/public/media/{mediaId}/download") in _operations(document)
    upload = document["paths"]["/api/public/media/{mediaId}/upload"]["put"]
    assert upload["security"] == []
