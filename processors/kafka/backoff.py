"""Retry delays of the Kafka consumer: exponential backoff with "equal jitter"."""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["backoff_delay"]


def backoff_delay(
    attempt: int,
    initial: float,
    maximum: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): "equal jitter" backoff.

    The ceiling is ``min(maximum, initial * 2**attempt)``; the delay is drawn uniformly from
    ``[ceiling / 2, ceiling]``, so retries of many processors spread out but never hammer a
    recovering ClickHouse with near-zero waits ("Equal Jitter" of the AWS Architecture Blog
    post "Exponential Backoff And Jitter", 2015). ``initial``, ``maximum`` and the result are in
    seconds; ``rand`` returns a float in ``[0, 1)``. Never raises for ``attempt >= 0``.
    """
    ceiling = min(maximum, initial * 2.0 ** min(attempt, 62))
    return ceiling / 2 + rand() * ceiling / 2
