"""The media Langfuse accepts (content types with the file extension of their blob key, the
fields that may reference media, the size limit) and the media API's settings.

Content types are Langfuse's ``MediaContentType`` enum of its public API definition (fern
``fern/apis/server/definition/media.yml`` in langfuse/langfuse; the list the Python SDK 5 is
generated from, ``langfuse/api/media/types/media_content_type.py`` in langfuse-python).
Extensions follow Langfuse's ``getFileExtensionFromContentType``
(``web/src/features/media/server/getFileExtensionFromContentType.ts``) where it has the type,
and the type's usual extension otherwise. The size limit is Langfuse's default
``LANGFUSE_S3_MEDIA_MAX_CONTENT_LENGTH`` (1,000,000,000 bytes, ``web/src/env.mjs``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CONTENT_TYPES", "DEFAULT_MAX_CONTENT_LENGTH", "FIELDS", "MediaConfig"]

DEFAULT_MAX_CONTENT_LENGTH = 1_000_000_000
"""Largest media in bytes (Langfuse's default)."""

FIELDS = ("input", "output", "metadata")
"""Fields of a trace or observation that may reference media (Langfuse ``MediaEnabledFields``)."""

CONTENT_TYPES: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/svg+xml": "svg",
    "image/tiff": "tiff",
    "image/bmp": "bmp",
    "image/avif": "avif",
    "image/heic": "heic",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "audio/oga": "oga",
    "audio/aac": "aac",
    "audio/mp4": "m4a",
    "audio/flac": "flac",
    "audio/opus": "opus",
    "audio/webm": "weba",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/ogg": "ogv",
    "video/mpeg": "mpeg",
    "video/quicktime": "mov",
    "video/x-msvideo": "avi",
    "video/x-matroska": "mkv",
    "text/plain": "txt",
    "text/html": "html",
    "text/css": "css",
    "text/csv": "csv",
    "text/markdown": "md",
    "text/x-python": "py",
    "application/javascript": "js",
    "text/x-typescript": "ts",
    "application/x-yaml": "yaml",
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/zip": "zip",
    "application/json": "json",
    "application/xml": "xml",
    "application/octet-stream": "bin",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/rtf": "rtf",
    "application/x-ndjson": "ndjson",
    "application/vnd.apache.parquet": "parquet",
    "application/gzip": "gz",
    "application/x-tar": "tar",
    "application/x-7z-compressed": "7z",
}
"""Accepted content type -> extension of the blob key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaConfig:
    """Settings of the media API (environment variables: ``ingest.app.settings``).

    Raises:
        ValueError: ``signing_key`` is set but shorter than 32 characters.
    """

    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    """Largest media in bytes; larger uploads are refused with 400 (Langfuse's rule)."""
    upload_url_expiry_s: int = 3600
    """Seconds an upload URL stays valid (Langfuse: one hour)."""
    download_url_expiry_s: int = 3600
    """Seconds a download URL of ``GET /api/public/media/{id}`` stays valid (Langfuse's
    ``LANGFUSE_S3_MEDIA_DOWNLOAD_URL_EXPIRY_SECONDS`` default)."""
    signing_key: str = ""
    """Secret that signs the upload and download URLs of the local blob store (at least 32
    characters); empty: one is generated once and kept in ``<data_dir>/media-signing.key``.
    Set it (the same on every process) when several processes share the local store."""

    def __post_init__(self) -> None:
        if self.signing_key and len(self.signing_key) < 32:
            raise ValueError("signing_key must have at least 32 characters")
