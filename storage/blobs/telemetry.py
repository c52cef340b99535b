"""Blob store metrics (docs/architecture.md "Metrics"), recorded by both stores:

- ``otelfuse_blob_operations_total{store,operation}``: calls, whatever their outcome
  (operation: ``put``, ``get``, ``stat``, ``list``, ``delete``, ``presign``,
  ``ensure_bucket``);
- ``otelfuse_blob_errors_total{store,operation,reason}``: failed calls, ``reason``
  ``unavailable`` (retryable: the store is down or overloaded) or ``rejected`` (permanent);
  a missing blob is not an error;
- ``otelfuse_blob_bytes_total{store,direction}``: bytes ``written`` and ``read``;
- ``otelfuse_blob_operation_duration_seconds{store,operation}`` (histogram).

``store`` is ``local`` or ``s3``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

from storage.errors import NotFound, PermanentError

__all__ = ["BLOB_METRICS", "BlobMetrics"]


class BlobMetrics:
    """The blob stores' Prometheus instruments (default registry)."""

    def __init__(self) -> None:
        self._operations = Counter(
            "otelfuse_blob_operations",
            "Blob store calls, by store and operation.",
            ["store", "operation"],
        )
        self._errors = Counter(
            "otelfuse_blob_errors",
            "Failed blob store calls: reason unavailable (retryable) or rejected (permanent).",
            ["store", "operation", "reason"],
        )
        self._bytes = Counter(
            "otelfuse_blob_bytes",
            "Bytes written to and read from the blob store.",
            ["store", "direction"],
        )
        self._duration = Histogram(
            "otelfuse_blob_operation_duration_seconds",
            "Duration of blob store calls, in seconds.",
            ["store", "operation"],
        )

    @contextmanager
    def measure(self, store: str, operation: str) -> Iterator[None]:
        """Count and time the block as one ``operation`` of ``store``; an exception leaving
        it is counted as an error (``storage.errors`` class -> reason) and re-raised."""
        self._operations.labels(store, operation).inc()
        start = time.perf_counter()
        try:
            yield
        except NotFound:
            raise
        except PermanentError:
            self._errors.labels(store, operation, "rejected").inc()
            raise
        except Exception:
            self._errors.labels(store, operation, "unavailable").inc()
            raise
        finally:
            self._duration.labels(store, operation).observe(time.perf_counter() - start)

    def written(self, store: str, size: int) -> None:
        """``size`` bytes were stored."""
        self._bytes.labels(store, "written").inc(size)

    def read(self, store: str, size: int) -> None:
        """``size`` bytes were read."""
        self._bytes.labels(store, "read").inc(size)


BLOB_METRICS = BlobMetrics()
