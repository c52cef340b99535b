"""Embedded ClickHouse memory gauges: sampled from the engine, never waiting for a statement."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from prometheus_client import REGISTRY

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.telemetry import CLICKHOUSE_METRICS, EngineMemorySampler
from tests.support.fakes import DelegatingClient


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_sample_reads_the_engines_own_accounting(client: ChdbClient) -> None:
    CLICKHOUSE_METRICS.sample(client)
    tracked = _value("otelfuse_clickhouse_memory_tracked_bytes")
    assert tracked is not None and tracked > 1_000_000  # the engine holds MBs once started
    engine = int(
        client.select("SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'")[0][
            "value"
        ]
    )
    assert abs(tracked - engine) < 64 * 1024 * 1024
    for cache in ("mark", "index_mark", "primary_index", "uncompressed"):
        value = _value("otelfuse_clickhouse_cache_bytes", cache=cache)
        assert value is not None and value >= 0


class _Busy(DelegatingClient):
    """A client that always holds a statement; a select would be a bug."""

    def busy(self) -> bool:
        return True

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        raise AssertionError("sampled while busy")


class _Failing(DelegatingClient):
    def busy(self) -> bool:
        return False

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        raise RuntimeError("engine gone")


def test_sampler_skips_while_busy_and_survives_failures(client: ChdbClient) -> None:
    async def run(target: DelegatingClient) -> None:
        sampler = EngineMemorySampler(target, interval_s=0.01)
        await sampler.start()
        await asyncio.sleep(0.05)  # several background rounds
        await sampler.stop()

    CLICKHOUSE_METRICS.tracked.set(-1)
    asyncio.run(run(_Busy(client)))
    asyncio.run(run(_Failing(client)))
    assert _value("otelfuse_clickhouse_memory_tracked_bytes") == -1  # untouched by both
