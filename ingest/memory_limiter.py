"""Refuse work before it takes the process past its memory budget.

In the spirit of the OpenTelemetry Collector's ``memory_limiter`` processor
(opentelemetry-collector ``processor/memorylimiterprocessor/README.md``): a hard limit
(``limit_mib``, or ``limit_percentage`` of the memory the process may use: its cgroup's limit,
else the machine's RAM) and a soft limit ``spike_limit_mib`` below it. Above the soft limit every
export and ingestion request is refused with a retryable error (HTTP 503 + ``Retry-After``,
gRPC UNAVAILABLE + RetryInfo), so clients back off and resend; nothing accepted is dropped.

Unlike the Collector, which looks at the heap every ``check_interval``, otelfuse also knows the
size of each request before it decodes it: a request *reserves* ``EXPANSION`` times its
(decompressed) size until it is written, and is refused when the resident set size (RSS, read
from the OS at most every ``CHECK_INTERVAL_S``) plus every reservation in flight plus its own
would pass the hard limit. So a burst of large requests is refused before it is decoded, not
after the process has grown. A request whose reservation alone is more than half the limit can
never be admitted and gets 413 instead (a permanent error: the exporter must send smaller
batches).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from ingest.errors import PayloadTooLarge
from storage.errors import RetryableError

__all__ = [
    "EXPANSION",
    "MEMORY_LIMITER",
    "MemoryLimitExceeded",
    "MemoryLimiter",
    "MemoryLimiterConfig",
    "ProcessRss",
]

log = logging.getLogger(__name__)

MIB = 1024 * 1024

EXPANSION = 8
"""Bytes of memory one byte of request takes until it is written: decoding an OTLP protobuf and
mapping its spans was measured at 2–5 times the body (``bench.spans`` bodies, 9k and 30k
spans); records, rows and the insert buffer about double that."""

CHECK_INTERVAL_S = 0.05
"""RSS is read from the OS at most this often (the Collector's ``check_interval``)."""

CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")
"""cgroup v2: the container's memory limit in bytes, or ``max``."""


class MemoryLimitExceeded(RetryableError):
    """The process is at its memory budget; retry after ``retry_after_s`` seconds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryLimiterConfig:
    """The memory budget (environment variables: ``ingest.app.settings``).

    Attributes:
        limit_mib: hard limit in MiB; 0: ``limit_percentage`` of the available memory.
        limit_percentage: with ``limit_mib`` 0, the hard limit as a percentage (1-100) of the
            cgroup's memory limit, else of the machine's RAM; 0 turns the limiter off.
        spike_limit_mib: the soft limit is this far below the hard limit; 0: 20 % of it.

    Raises:
        ValueError: a value is out of range.
    """

    limit_mib: int = 0
    limit_percentage: int = 80
    spike_limit_mib: int = 0

    def __post_init__(self) -> None:
        if self.limit_mib < 0:
            raise ValueError(f"limit_mib must be >= 0, got {self.limit_mib}")
        if not 0 <= self.limit_percentage <= 100:
            raise ValueError(f"limit_percentage must be 0-100, got {self.limit_percentage}")
        if self.spike_limit_mib < 0:
            raise ValueError(f"spike_limit_mib must be >= 0, got {self.spike_limit_mib}")
        if self.limit_mib and self.spike_limit_mib >= self.limit_mib:
            raise ValueError(
                f"spike_limit_mib ({self.spike_limit_mib}) must be below limit_mib "
                f"({self.limit_mib})"
            )

    def limit_bytes(self, available: Callable[[], int]) -> int:
        """The hard limit in bytes (0: off); ``available()`` gives the memory the process may
        use."""
        if self.limit_mib:
            return self.limit_mib * MIB
        return available() * self.limit_percentage // 100

    def spike_bytes(self, limit: int) -> int:
        """How far below ``limit`` the soft limit is, in bytes."""
        return self.spike_limit_mib * MIB if self.spike_limit_mib else limit // 5


def available_memory() -> int:
    """Bytes the process may use: the cgroup v2 limit when one is set, else total RAM."""
    with contextlib.suppress(OSError, ValueError):
        text = CGROUP_LIMIT.read_text().strip()
        if text != "max":
            return min(int(text), psutil.virtual_memory().total)
    return int(psutil.virtual_memory().total)


class ProcessRss:
    """Reads this process's resident set size in bytes (``psutil.Process.memory_info``).

    Keeps one ``psutil.Process``: creating one reads the process's creation time
    (``/proc/<pid>/stat`` on Linux) every time, which was a per-request cost of the
    admission check. A new one is made when the process id changed (a forked child).
    """

    def __init__(self) -> None:
        self._process: psutil.Process | None = None

    def __call__(self) -> int:
        process = self._process
        if process is None or process.pid != os.getpid():
            process = self._process = psutil.Process()
        return int(process.memory_info().rss)


class MemoryLimiter:
    """Admission by memory (module docstring); off until ``configure`` is called.

    Args:
        read_rss: the process's resident set size in bytes (tests pass their own).
        available: the memory the process may use, in bytes.
    """

    def __init__(
        self,
        read_rss: Callable[[], int] | None = None,
        available: Callable[[], int] = available_memory,
    ) -> None:
        self._read_rss = read_rss if read_rss is not None else ProcessRss()
        self._available = available
        self.limit = 0
        self.soft_limit = 0
        self.reserved = 0
        """Bytes reserved by requests being decoded, mapped or written."""
        self._rss = 0
        self._read_at = -1.0
        self.refused = 0

    def configure(self, config: MemoryLimiterConfig) -> None:
        """Set the budget (0 turns the limiter off)."""
        self.limit = config.limit_bytes(self._available)
        self.soft_limit = self.limit - config.spike_bytes(self.limit) if self.limit else 0
        if self.limit:
            log.info(
                "memory limiter: refusing requests above %d MiB RSS (soft) or when a request "
                "would pass %d MiB",
                self.soft_limit // MIB,
                self.limit // MIB,
            )

    def rss(self) -> int:
        """The resident set size in bytes, at most ``CHECK_INTERVAL_S`` old."""
        now = time.monotonic()
        if now - self._read_at >= CHECK_INTERVAL_S:
            self._rss = self._read_rss()
            self._read_at = now
        return self._rss

    @contextlib.contextmanager
    def reserve(self, request_bytes: int) -> Iterator[None]:
        """Hold ``EXPANSION * request_bytes`` of the budget while the block runs (decode, map,
        write).

        Raises:
            MemoryLimitExceeded: above the soft limit, or the reservation would pass the hard
                limit (retryable).
            PayloadTooLarge: the reservation alone is more than half the hard limit.
        """
        if not self.limit:
            yield
            return
        need = request_bytes * EXPANSION
        if need > self.limit // 2:
            raise PayloadTooLarge(
                f"a request of {request_bytes} bytes needs about {need // MIB} MiB, more than "
                f"half the memory limit ({self.limit // MIB} MiB): send smaller batches"
            )
        rss = self.rss()
        if rss > self.soft_limit or rss + self.reserved + need > self.limit:
            self.refused += 1
            raise MemoryLimitExceeded(
                f"memory limit reached ({rss // MIB} MiB in use, {self.reserved // MIB} MiB "
                f"reserved, limit {self.limit // MIB} MiB), retry later",
                retry_after_s=1.0,
            )
        self.reserved += need
        try:
            yield
        finally:
            self.reserved -= need


MEMORY_LIMITER = MemoryLimiter()
"""The process's limiter, configured by each role at start (``ingest.app``)."""
