"""``S3BlobStore``: blobs in an S3 (or S3-compatible: MinIO, SeaweedFS) bucket through the
``minio`` SDK (https://min.io/docs/minio/linux/developers/python/API.html).

The SDK is synchronous: every call runs in the store's own thread pool of
``S3Config.max_concurrency`` workers, matched by an HTTP connection pool of the same size, so
at most that many S3 requests are in flight and the event loop never blocks. Without an access
key the SDK's provider chain finds the environment's credentials (``AWS_*`` / ``MINIO_*``
variables, ``~/.aws/credentials``, the instance's IAM role).

Presigned URLs are SigV4 query-string signatures (AWS "Authenticating Requests: Using Query
Parameters"): the minio SDK signs only the ``host`` header, so the client's ``Content-Type``
and ``x-amz-checksum-sha256`` headers are not part of the signature; S3 still checks the
checksum header against the body (SeaweedFS and AWS answer ``BadDigest``), and the media API
checks the stored object's size when the SDK reports the upload (``ingest.api.media``).

Idempotent requests answered 500/502/503/504 are retried three times with backoff (urllib3
``Retry``; AWS asks clients to retry ``InternalError`` and ``SlowDown``, "Error responses").

Errors: ``NoSuchKey`` -> ``BlobNotFound``; credentials, permissions, a missing bucket and other
4xx codes -> ``PermanentError``; connection failures, timeouts, 5xx and throttling ->
``RetryableError``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import urllib3
from minio import Minio
from minio.credentials.providers import (
    AWSConfigProvider,
    ChainedProvider,
    EnvAWSProvider,
    EnvMinioProvider,
    IamAwsProvider,
)
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, S3Error, ServerError

from storage.blobs.config import S3Config
from storage.blobs.store import BlobInfo, BlobNotFound, check_key
from storage.blobs.telemetry import BLOB_METRICS
from storage.errors import BadRequest, PermanentError, RetryableError

__all__ = ["S3BlobStore"]

T = TypeVar("T")
_KIND = "s3"
_RETRYABLE_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "OperationAborted",
    }
)
"""S3 error codes worth retrying (AWS "Error responses", codes answered with 5xx or 503)."""


@contextlib.contextmanager
def _s3_errors(action: str, key: str) -> Iterator[None]:
    try:
        yield
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            raise BlobNotFound(f"no blob {key}") from None
        message = f"S3 {action} {key}: {exc.code} {exc.message}"
        if exc.code in _RETRYABLE_CODES or (exc.response and exc.response.status >= 500):
            raise RetryableError(message) from exc
        if exc.code == "NoSuchBucket":
            message += " (run `otelfuse migrate` to create the bucket)"
        raise PermanentError(message) from exc
    except (ServerError, InvalidResponseError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise RetryableError(f"S3 {action} {key} failed: {exc}") from exc


class S3BlobStore:
    """Blobs in one bucket under ``S3Config.prefix`` (``storage.blobs.store.BlobStore``)."""

    kind = _KIND

    def __init__(self, config: S3Config, *, timeout_s: float = 30.0) -> None:
        self.config = config
        self.bucket = config.bucket
        http = urllib3.PoolManager(
            maxsize=config.max_concurrency,
            timeout=urllib3.Timeout(connect=5.0, read=timeout_s),
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
            ),
        )
        credentials = None
        if not config.access_key:
            credentials = ChainedProvider(
                [EnvAWSProvider(), EnvMinioProvider(), AWSConfigProvider(), IamAwsProvider()]
            )
        self.client = Minio(
            config.host,
            access_key=config.access_key or None,
            secret_key=config.secret_key or None,
            secure=config.secure,
            region=config.region or None,
            http_client=http,
            credentials=credentials,
        )
        if config.force_path_style:
            self.client.disable_virtual_style_endpoint()  # type: ignore[no-untyped-call]
        else:
            self.client.enable_virtual_style_endpoint()  # type: ignore[no-untyped-call]
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=config.max_concurrency, thread_name_prefix="otelfuse-s3"
        )

    def object_name(self, key: str) -> str:
        """The object name of ``key``: the configured prefix + key.

        Raises:
            BadRequest: ``key`` is not an acceptable blob key.
        """
        return self.config.prefix + check_key(key)

    async def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def ensure_bucket(self) -> bool:
        """Create the bucket when missing (in ``region`` when set); True when created."""
        with BLOB_METRICS.measure(_KIND, "ensure_bucket"), _s3_errors("creating", self.bucket):
            if await self._run(self.client.bucket_exists, self.bucket):
                return False
            try:
                await self._run(self.client.make_bucket, self.bucket, self.config.region or None)
            except S3Error as exc:
                if exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    return False  # another migrator was faster
                raise
            return True

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Upload ``data`` as one object."""
        name = self.object_name(key)
        with BLOB_METRICS.measure(_KIND, "put"), _s3_errors("put", name):
            await self._run(
                self.client.put_object,
                self.bucket,
                name,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
            )
        BLOB_METRICS.written(_KIND, len(data))

    async def get(self, key: str) -> bytes:
        """The object's bytes. Raises ``BlobNotFound``."""
        name = self.object_name(key)
        with BLOB_METRICS.measure(_KIND, "get"), _s3_errors("get", name):
            data = await self._run(self._read, name)
        BLOB_METRICS.read(_KIND, len(data))
        return data

    def _read(self, name: str) -> bytes:
        response = self.client.get_object(self.bucket, name)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def stat(self, key: str) -> BlobInfo | None:
        """Size and content type of the object, or None."""
        name = self.object_name(key)
        with BLOB_METRICS.measure(_KIND, "stat"):
            try:
                with _s3_errors("stat", name):
                    found = await self._run(self.client.stat_object, self.bucket, name)
            except BlobNotFound:
                return None
        return BlobInfo(int(found.size or 0), found.content_type or "application/octet-stream")

    async def list_keys(self, prefix: str) -> list[tuple[str, int]]:
        """Objects under ``prefix`` (``ListObjectsV2``, recursive), keys without the
        configured prefix, sorted."""
        name = self.config.prefix + prefix
        with BLOB_METRICS.measure(_KIND, "list"), _s3_errors("list", name):
            return await self._run(self._list, name)

    def _list(self, name: str) -> list[tuple[str, int]]:
        cut = len(self.config.prefix)
        found = [
            (str(item.object_name)[cut:], int(item.size or 0))
            for item in self.client.list_objects(self.bucket, prefix=name, recursive=True)
            if item.object_name and not item.is_dir
        ]
        return sorted(found)

    async def delete(self, key: str) -> None:
        """Remove the object (S3 answers success for a missing one)."""
        name = self.object_name(key)
        with BLOB_METRICS.measure(_KIND, "delete"), _s3_errors("delete", name):
            await self._run(self.client.remove_object, self.bucket, name)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix`` (ends with ``/``): listed, then deleted in
        batches (``DeleteObjects``)."""
        if not prefix.endswith("/"):
            raise BadRequest("a blob prefix ends with /")
        name = self.object_name(prefix.rstrip("/")) + "/"
        with BLOB_METRICS.measure(_KIND, "delete"), _s3_errors("delete", name):
            return await self._run(self._remove_prefix, name)

    def _remove_prefix(self, name: str) -> int:
        objects = self.client.list_objects(self.bucket, prefix=name, recursive=True)
        names = [DeleteObject(o.object_name) for o in objects if o.object_name]
        for error in self.client.remove_objects(self.bucket, names):
            raise PermanentError(f"S3 delete {error.name}: {error.code} {error.message}")
        return len(names)

    async def presign_put(self, key: str, content_type: str, expires: timedelta) -> str | None:
        """A presigned ``PUT`` URL of the object."""
        name = self.object_name(key)
        with BLOB_METRICS.measure(_KIND, "presign"), _s3_errors("presign", name):
            return await self._run(self.client.presigned_put_object, self.bucket, name, expires)

    async def presign_get(self, key: str, expires: timedelta) -> str | None:
        """A presigned ``GET`` URL of the object."""
        name = self.object_name(key)
        with BLOB_METRICS.measure(_KIND, "presign"), _s3_errors("presign", name):
            return await self._run(self.client.presigned_get_object, self.bucket, name, expires)

    async def health(self) -> str | None:
        """None when the bucket answers, else the reason."""
        try:
            with _s3_errors("checking", self.bucket):
                exists = await self._run(self.client.bucket_exists, self.bucket)
        except (RetryableError, PermanentError) as exc:
            return str(exc)
        return None if exists else f"S3 bucket {self.bucket} missing: run `otelfuse migrate`"

    async def close(self) -> None:
        """Stop the worker threads and close connections (safe twice)."""
        self._pool.shutdown(wait=True)
        self.client._http.clear()
