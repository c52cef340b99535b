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

__all__ = ["BACKENDS", "BlobConfig", "S3Config"]

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
class BlobConfig:
    """Which blob store a role uses.

    Raises:
        ValueError: ``backend`` is not one of ``BACKENDS``.
    """

    backend: str = "local"
    """``local`` or ``s3`` (``BACKENDS``)."""
    s3: S3Config = field(default_factory=S3Config)
    """The bucket, when ``backend`` is ``s3``."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r} must be one of {', '.join(BACKENDS)}")

    @staticmethod
    def folder(data_dir: Path) -> Path:
        """The local store's folder: ``<data_dir>/blobs``."""
        return data_dir / "blobs"
