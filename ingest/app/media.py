"""The blob store and the media routes of a role. Every role that receives or reads
observations opens the store (oversized fields, ``ingest.offload``); the media routes are
mounted only where PostgreSQL holds the media records (``PostgresRuntime``); without it no
media route is mounted (404, as before).

The all-in-one process creates the bucket (or folder) at start, as it applies migrations; the
scale-out roles leave that to ``otelfuse migrate``. The local store's URL signing key comes
from ``OTELFUSE_MEDIA_SIGNING_KEY`` or is generated once into ``<data_dir>/media-signing.key``
(mode 0600).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from ingest.app.settings import Settings
from ingest.offload import OffloadingSink
from ingest.sinks import RecordSink
from storage.auth import KeyStore
from storage.blobs import BlobStore, open_blob_store
from storage.blobs.claim_check import FieldResolver

if TYPE_CHECKING:
    from storage.postgres import PostgresRuntime

__all__ = ["field_resolver", "media_routes", "offloading", "open_blobs", "signing_key"]

log = logging.getLogger(__name__)


async def open_blobs(
    settings: Settings, stack: contextlib.AsyncExitStack, *, create: bool
) -> BlobStore:
    """The configured blob store, closed with ``stack``; ``create``: make the bucket/folder.

    Raises:
        RetryableError / PermanentError: the bucket cannot be created.
    """
    store = open_blob_store(settings.blobs, settings.data_dir)
    stack.push_async_callback(store.close)
    if create and await store.ensure_bucket():
        log.info("created the %s blob store's bucket", store.kind)
    return store


def offloading(settings: Settings, sink: RecordSink, store: BlobStore) -> OffloadingSink:
    """``sink`` behind the claim check (``ingest.offload``) over ``store``."""
    return OffloadingSink(sink, store, settings.blobs.offload, settings.publisher.max_message_bytes)


def field_resolver(settings: Settings, store: BlobStore) -> FieldResolver:
    """What the read routes resolve offloaded fields with."""
    return FieldResolver(store, settings.blobs.offload)


def signing_key(settings: Settings) -> bytes:
    """The local store's URL signing key: the setting, else ``<data_dir>/media-signing.key``
    (created with 32 random bytes, mode 0600, on first use)."""
    if settings.media.signing_key:
        return settings.media.signing_key.encode()
    path = Path(settings.data_dir) / "media-signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def media_routes(
    settings: Settings, store: BlobStore, keys: KeyStore, postgres: PostgresRuntime | None
) -> list[BaseRoute]:
    """The media routes (``ingest.api.media``) over the role's blob store (``open_blobs``)
    when ``postgres`` is open, else none."""
    if postgres is None:
        return []
    from ingest.api.media import Media  # the API and its schemas: not loaded by a worker
    from ingest.api.media_tokens import MediaTokens

    tokens = MediaTokens(signing_key(settings))
    return Media(postgres.media, store, keys, settings.media, tokens).routes()
