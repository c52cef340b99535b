"""Archive metrics (docs/architecture.md "Metrics"), recorded by the all-in-one's
``ArchiveQueue`` and the ``archiver`` role alike:

- ``otelfuse_archive_requests_total``: requests written into archive objects;
- ``otelfuse_archive_objects_total``: objects written;
- ``otelfuse_archive_bytes_total{stage}``: frame bytes before (``raw``) and after
  (``compressed``) zstd;
- ``otelfuse_archive_write_errors_total``: failed object writes (each retried);
- ``otelfuse_archive_refused_requests_total``: requests answered 503 because the archive queue
  was full;
- ``otelfuse_archive_queued_bytes``: request bytes accepted but not yet in an object;
- ``otelfuse_archive_skipped_messages_total``: archiver: raw-topic messages that were not an
  ``ArchivedRequest`` (skipped, logged).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["ARCHIVE_METRICS", "ArchiveMetrics"]


class ArchiveMetrics:
    """The archive's Prometheus instruments (default registry)."""

    def __init__(self) -> None:
        self.requests = Counter(
            "otelfuse_archive_requests", "Requests written into raw archive objects."
        )
        self.objects = Counter("otelfuse_archive_objects", "Raw archive objects written.")
        self.bytes = Counter(
            "otelfuse_archive_bytes",
            "Bytes of archived requests: raw frames and compressed objects.",
            ["stage"],
        )
        self.write_errors = Counter(
            "otelfuse_archive_write_errors", "Failed raw archive object writes (retried)."
        )
        self.refused = Counter(
            "otelfuse_archive_refused_requests",
            "Requests answered 503 because the archive queue was full.",
        )
        self.skipped = Counter(
            "otelfuse_archive_skipped_messages",
            "Raw-topic messages that were not an ArchivedRequest (skipped).",
        )
        self.queued_bytes = Gauge(
            "otelfuse_archive_queued_bytes",
            "Request bytes accepted but not yet written to an archive object.",
        )

    def written(self, requests: int, raw: int, compressed: int) -> None:
        """One object of ``requests`` requests, ``raw`` frame bytes, ``compressed`` bytes."""
        self.requests.inc(requests)
        self.objects.inc()
        self.bytes.labels("raw").inc(raw)
        self.bytes.labels("compressed").inc(compressed)


ARCHIVE_METRICS = ArchiveMetrics()
