"""Blob storage: Langfuse media (and, later, oversized observation fields) in a local folder or
an S3 bucket (docs/architecture.md "Where each kind of thing lives").

- ``store``: the ``BlobStore`` protocol, ``BlobInfo``, ``BlobNotFound``;
- ``local``: ``LocalBlobStore``, files under ``OTELFUSE_DATA_DIR/blobs`` (all-in-one default);
- ``s3``: ``S3BlobStore``, an S3/MinIO/SeaweedFS bucket through the ``minio`` SDK;
- ``config``: ``BlobConfig`` / ``S3Config``; ``telemetry``: the ``otelfuse_blob_*`` metrics.
"""

from __future__ import annotations

from pathlib import Path

from storage.blobs.config import BlobConfig, S3Config
from storage.blobs.local import LocalBlobStore
from storage.blobs.store import BlobInfo, BlobNotFound, BlobStore

__all__ = [
    "BlobConfig",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "LocalBlobStore",
    "S3Config",
    "open_blob_store",
]


def open_blob_store(config: BlobConfig, data_dir: Path) -> BlobStore:
    """The configured store (not connected yet: the first call connects); close it after use."""
    if config.backend == "s3":
        from storage.blobs.s3 import S3BlobStore

        return S3BlobStore(config.s3)
    return LocalBlobStore(config.folder(data_dir))
