"""The memory limiter (#15: large requests under load must not take the process past its
budget): refusals above the soft limit and for reservations that would pass the hard limit."""

from __future__ import annotations

import psutil
import pytest
from google.rpc import code_pb2

from ingest.errors import PayloadTooLarge, status_for
from ingest.memory_limiter import (
    EXPANSION,
    MIB,
    MemoryLimiter,
    MemoryLimiterConfig,
    MemoryLimitExceeded,
    ProcessRss,
)


class FakeRss:
    def __init__(self, rss: int) -> None:
        self.rss = rss

    def __call__(self) -> int:
        return self.rss


def _limiter(rss: int, limit_mib: int = 1000, spike_mib: int = 200) -> MemoryLimiter:
    limiter = MemoryLimiter(read_rss=FakeRss(rss), available=lambda: 0)
    limiter.configure(MemoryLimiterConfig(limit_mib=limit_mib, spike_limit_mib=spike_mib))
    return limiter


def test_below_the_soft_limit_a_request_is_admitted_and_reserves_memory() -> None:
    limiter = _limiter(500 * MIB)
    with limiter.reserve(1 * MIB):
        assert limiter.reserved == EXPANSION * MIB
    assert limiter.reserved == 0


def test_above_the_soft_limit_every_request_is_refused_with_a_retryable_error() -> None:
    limiter = _limiter(801 * MIB)
    with pytest.raises(MemoryLimitExceeded) as refused, limiter.reserve(10):
        pass
    status = status_for(refused.value)
    assert status.http_status == 503 and status.retry_after_header == "1"
    assert status.grpc_code == code_pb2.UNAVAILABLE
    assert limiter.refused == 1 and limiter.reserved == 0


def test_reservations_in_flight_count_against_the_hard_limit() -> None:
    limiter = _limiter(500 * MIB)
    request = 30 * MIB  # 240 MiB reserved each
    with limiter.reserve(request):
        second = limiter.reserve(request)
        second.__enter__()  # 500 + 480 <= 1000
        with pytest.raises(MemoryLimitExceeded), limiter.reserve(request):  # 500 + 720
            pass
        second.__exit__(None, None, None)
        with limiter.reserve(request):  # the second one was released
            pass


def test_a_request_larger_than_half_the_budget_is_413_not_retried_forever() -> None:
    limiter = _limiter(100 * MIB)
    with pytest.raises(PayloadTooLarge) as too_large, limiter.reserve(70 * MIB):
        pass
    assert status_for(too_large.value).http_status == 413
    assert "send smaller batches" in str(too_large.value)


def test_the_limit_follows_the_available_memory_and_can_be_off() -> None:
    limiter = MemoryLimiter(read_rss=FakeRss(10**15), available=lambda: 4000 * MIB)
    limiter.configure(MemoryLimiterConfig())  # 80 % of 4000 MiB, soft 20 % below
    assert limiter.limit == 3200 * MIB and limiter.soft_limit == 2560 * MIB
    limiter.configure(MemoryLimiterConfig(limit_percentage=0))
    with limiter.reserve(10**9):  # off: nothing is refused
        pass


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"limit_mib": -1}, "limit_mib must be >= 0"),
        ({"limit_percentage": 101}, "limit_percentage must be 0-100"),
        ({"limit_mib": 100, "spike_limit_mib": 100}, "must be below limit_mib"),
    ],
)
def test_invalid_budgets_are_refused(fields: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MemoryLimiterConfig(**fields)


def test_process_rss_reads_the_current_resident_set_size_on_every_call() -> None:
    """One ``psutil.Process`` is kept, but each call reads the RSS anew: memory touched after
    the first read shows in the second."""
    read = ProcessRss()
    before = read()
    assert abs(before - psutil.Process().memory_info().rss) < 16 * MIB
    grown = bytearray(64 * MIB)
    grown[::4096] = b"\x01" * len(range(0, 64 * MIB, 4096))  # touch every page
    after = read()
    assert after - before >= 48 * MIB
    del grown
