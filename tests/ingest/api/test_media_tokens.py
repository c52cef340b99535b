"""Signed URLs of the local blob store (``ingest.api.media_tokens``) and the media id rule."""

from __future__ import annotations

import time

import pytest

from ingest.api.media import media_id_of, parse_upload_request
from ingest.api.media_tokens import MediaGrant, MediaTokens
from storage.errors import BadRequest

GRANT = MediaGrant("proj-a", "abc", "proj-a/abc.png", "image/png", 10, "A" * 43 + "=")
KEY = b"k" * 32


def test_a_token_round_trips_for_its_action_and_media_only() -> None:
    tokens = MediaTokens(KEY)
    token = tokens.sign("upload", GRANT)
    assert tokens.verify("upload", token, "abc", 60) == GRANT
    with pytest.raises(BadRequest, match="invalid"):
        tokens.verify("download", token, "abc", 60)  # an upload token never downloads
    with pytest.raises(BadRequest, match="does not match"):
        tokens.verify("upload", token, "other", 60)
    with pytest.raises(BadRequest, match="invalid"):
        MediaTokens(b"x" * 32).verify("upload", token, "abc", 60)  # another key
    with pytest.raises(BadRequest, match="invalid"):
        tokens.verify("upload", token[:-2] + "xx", "abc", 60)
    with pytest.raises(BadRequest, match="missing"):
        tokens.verify("upload", "", "abc", 60)


def test_an_old_token_is_expired() -> None:
    tokens = MediaTokens(KEY)
    token = tokens.sign("download", GRANT)
    time.sleep(1.1)
    with pytest.raises(BadRequest, match="expired"):
        tokens.verify("download", token, "abc", 0)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        MediaTokens(b"short")


def test_media_id_is_the_sdks() -> None:
    # langfuse/media.py LangfuseMedia._get_media_id: URL-safe base64 of the SHA-256, 22 chars
    assert media_id_of("ab+/cd+/ef+/gh+/ij+/kl+/mn+/op+/qr+/st+/uvw=") == "ab-_cd-_ef-_gh-_ij-_kl"


def test_dataset_item_media_is_refused_clearly() -> None:
    body = {"datasetId": "d", "datasetItemId": "i", "contentType": "image/png"}
    with pytest.raises(BadRequest, match="dataset items"):
        parse_upload_request(body, 100)
