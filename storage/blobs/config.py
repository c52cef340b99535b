"""Where blobs (Langfuse media, and later oversized fields) live: a local folder or an S3 bucket.

Settings follow Langfuse's own S3 media settings (langfuse/langfuse ``web/src/env.mjs``:
``LANGFUSE_S3_MEDIA_UPLOAD_BUCKET``, ``_PREFIX``, ``_REGION``, ``_ENDPOINT``,
``_ACCESS_KEY_ID``, ``_SECRET_ACCESS_KEY``, ``_FORCE_PATH_STYLE``); the environment variables
that set them are in ``ingest.app.settings``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "BACKENDS",
    "MAX_REFERENCE_BYTES",
    "PREVIEW_CHARS",
    "BlobConfig",
    "OffloadConfig",
    "S3Config",
]

PREVIEW_CHARS = 1024
"""Characters of an offloaded value kept after its reference (listings, filters;
``storage.blobs.claim_check``)."""

MAX_REFERENCE_BYTES = PREVIEW_CHARS * 4 + 160
"""Largest reference string with its preview, in UTF-8 bytes (4-byte characters)."""

_MIN_OFFLOAD_BYTES = 2 * MAX_REFERENCE_BYTES
"""Smallest offload threshold: a reference must be much shorter than what it replaces."""


BACKENDS = ("local", "s3")
"""``local``: files under ``OTELFUSE_DATA_DIR/blobs`` (all-in-one default); ``s3``: a bucket."""

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
"""S3 bucket naming rules (AWS "Bucket naming rules": 3-63 lower-case letters, digits, dots,
hyphens; starts and ends with a letter or digit)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Config:
    """An S3 (or S3-compatible: MinIO, SeaweedFS) bucket.

    Raises:
        ValueError: ``endpoint`` is not an http(s) URL without a path, or ``bucket`` breaks the
            S3 naming rules; the message starts with the field name.
    """

    endpoint: str = "https://s3.amazonaws.com"
    """``http(s)://host[:port]``; ``https`` turns TLS on."""
    bucket: str = "otelfuse"
    """Bucket name (created by ``otelfuse migrate`` when missing)."""
    prefix: str = ""
    """Prepended to every object key (e.g. ``otelfuse/``)."""
    region: str = ""
    """Region of the bucket; empty: asked from the server (``GetBucketLocation``)."""
    access_key: str = ""
    """Access key id; empty (with ``secret_key``): the environment's credentials
    (``AWS_ACCESS_KEY_ID`` / ``MINIO_ACCESS_KEY``, ``~/.aws/credentials``, instance role)."""
    secret_key: str = ""
    """Secret access key (never logged)."""
    force_path_style: bool = True
    """``http://host/bucket/key`` (MinIO, SeaweedFS); false: ``http://bucket.host/key``."""
    max_concurrency: int = 16
    """Worker threads (and HTTP connections) for S3 calls; the minio SDK is synchronous."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            not in (
                "",
                "/",
            )
        ):
            raise ValueError(f"endpoint={self.endpoint!r} must be http(s)://host[:port]")
        if not _BUCKET.match(self.bucket):
            raise ValueError(f"bucket={self.bucket!r} is not a valid S3 bucket name")
        if bool(self.access_key) != bool(self.secret_key):
            raise ValueError("access_key and secret_key must be set together (or neither)")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")

    @property
    def secure(self) -> bool:
        """TLS on (``https`` endpoint)."""
        return urlsplit(self.endpoint).scheme == "https"

    @property
    def host(self) -> str:
        """``host[:port]`` of the endpoint (what the minio client takes)."""
        return urlsplit(self.endpoint).netloc


@dataclass(frozen=True, slots=True, kw_only=True)
class OffloadConfig:
    """When fields are offloaded and how much a read resolves.

    Raises:
        ValueError: ``offload_bytes`` below 8512 (twice the largest reference) or
            ``resolve_max_bytes`` not positive.
    """

    offload_bytes: int = 256 * 1024
    """A field longer than this (UTF-8 bytes) goes to the blob store
    (``OTELFUSE_BLOB_OFFLOAD_BYTES``; docs/architecture.md explains the default)."""
    resolve_max_bytes: int = 64 * 1024 * 1024
    """Bytes of offloaded values one read response resolves at most
    (``OTELFUSE_BLOB_RESOLVE_MAX_BYTES``); the first reference of a response always is."""

    def __post_init__(self) -> None:
        if self.offload_bytes < _MIN_OFFLOAD_BYTES:
            raise ValueError(f"offload_bytes must be at least {_MIN_OFFLOAD_BYTES}")
        if self.resolve_max_bytes < 1:
            raise ValueError("resolve_max_bytes must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobConfig:
    """Which blob store a role uses.

    Raises:
        ValueError: ``backend`` is not one of ``BACKENDS``.
    """

    backend: str = "local"
    """``local`` or ``s3`` (``BACKENDS``)."""
    s3: S3Config = field(default_factory=S3Config)
    """The bucket, when ``backend`` is ``s3``."""
    offload: OffloadConfig = field(default_factory=OffloadConfig)
    """Oversized observation fields (``storage.blobs.claim_check``)."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r} must be one of {', '.join(BACKENDS)}")

    @staticmethod
    def folder(data_dir: Path) -> Path:
        """The local store's folder: ``<data_dir>/blobs``."""
        return data_dir / "blobs"
