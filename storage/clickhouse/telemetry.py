"""Memory of the embedded ClickHouse engine (docs/architecture.md "Metrics"), sampled from its
``system.metrics`` table (ClickHouse docs, "system.metrics"):

- ``otelfuse_clickhouse_memory_tracked_bytes``: ``MemoryTracking``, the bytes the engine's
  allocator has handed out and not freed (queries, inserts, merges, caches);
- ``otelfuse_clickhouse_cache_bytes{cache}``: the engine's caches, ``mark``, ``index_mark``,
  ``primary_index`` and ``uncompressed`` (their caps: ``EMBEDDED_SERVER_SETTINGS`` in
  ``storage.clickhouse.chdb``).

Only the all-in-one and the roles with embedded ClickHouse sample them: there the engine's memory
is part of the process's RSS, and these gauges tell it apart from the Python heap. The sample is
taken by ``EngineMemorySampler`` in the background and skipped while a statement holds the
engine (``Client.busy``), so a scrape of ``/metrics`` never waits for a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from prometheus_client import Gauge

from storage.clickhouse.client import Client

__all__ = ["CLICKHOUSE_METRICS", "ClickHouseMetrics", "EngineMemorySampler"]

log = logging.getLogger(__name__)

_CACHES: Mapping[str, str] = {
    "MarkCacheBytes": "mark",
    "IndexMarkCacheBytes": "index_mark",
    "PrimaryIndexCacheBytes": "primary_index",
    "UncompressedCacheBytes": "uncompressed",
}
"""``system.metrics`` names of the caches, and the ``cache`` label of each."""
_TRACKED = "MemoryTracking"


class ClickHouseMetrics:
    """The embedded engine's Prometheus instruments (default registry)."""

    def __init__(self) -> None:
        self.tracked = Gauge(
            "otelfuse_clickhouse_memory_tracked_bytes",
            "Bytes the embedded ClickHouse engine has allocated and not freed (MemoryTracking).",
        )
        self.caches = Gauge(
            "otelfuse_clickhouse_cache_bytes",
            "Bytes held by each cache of the embedded ClickHouse engine.",
            ["cache"],
        )

    def sample(self, client: Client) -> None:
        """Read ``system.metrics`` through ``client`` and set the gauges.

        Raises:
            PermanentError / RetryableError: as ``Client.select``.
        """
        names = [_TRACKED, *_CACHES]
        rows = client.select(
            "SELECT metric, value FROM system.metrics WHERE metric IN {names:Array(String)}",
            {"names": names},
        )
        values = {row["metric"]: int(row["value"]) for row in rows}
        self.tracked.set(values.get(_TRACKED, 0))
        for metric, cache in _CACHES.items():
            self.caches.labels(cache).set(values.get(metric, 0))


CLICKHOUSE_METRICS = ClickHouseMetrics()


class EngineMemorySampler:
    """Samples ``CLICKHOUSE_METRICS`` every ``interval_s`` seconds in a worker thread until
    stopped; a sample is skipped while ``client.busy()`` and a failed one is logged.

    Usage: ``await sampler.start()`` ... ``await sampler.stop()``.
    """

    def __init__(self, client: Client, interval_s: float = 10.0) -> None:
        self._client = client
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take a first sample, then keep sampling in the background."""
        await self._sample()
        self._task = asyncio.create_task(self._run(), name="clickhouse-memory-sampler")

    async def stop(self) -> None:
        """Stop sampling (waits for a sample in progress)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self._sample()

    async def _sample(self) -> None:
        if self._client.busy():
            return
        try:
            await asyncio.to_thread(CLICKHOUSE_METRICS.sample, self._client)
        except Exception as exc:  # a gauge is not worth more than a log line
            log.warning("cannot sample ClickHouse memory metrics: %s", exc)
