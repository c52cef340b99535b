"""The lifecycle every role implements (the collector's ``component.Component``)."""

from __future__ import annotations

import contextlib
import gc
from typing import Protocol, Self

__all__ = ["Service", "StackedService", "freeze_started"]


def freeze_started() -> None:
    """Call once a process's role has started: collect the garbage of the start, then move
    every object still tracked by the cyclic garbage collector (modules, the price catalog,
    mapping tables, clients: about 110,000 objects in a receiver worker) to its permanent
    generation (``gc.freeze``, https://docs.python.org/3/library/gc.html#gc.freeze), so full
    collections no longer traverse them: in ``bench.receiver_profile`` the collector's time
    fell from about 4 to 0.4 µs per span (docs/benchmarks.md "Worker and receiver path, third
    round"). Objects frozen are never collected; they live as long as the role anyway."""
    gc.collect()
    gc.freeze()


class Service(Protocol):
    """``start`` returns once the role serves; ``stop`` is idempotent, safe without ``start``,
    and flushes whatever the role holds before returning."""

    async def start(self) -> None:
        """Open dependencies, then start serving."""
        ...

    async def stop(self) -> None:
        """Stop serving, flush, close dependencies."""
        ...


class StackedService:
    """A ``Service`` whose parts start, in order, on one ``contextlib.AsyncExitStack``:
    ``stop`` closes the stack, so parts stop in the reverse order, and a failed ``start``
    stops what had started. Subclasses implement ``_start``; ``async with`` works too."""

    def __init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the parts (``_start``); on a failure, stop those already started and raise."""
        try:
            await self._start(self._stack)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        """Start each part, pushing its stop onto ``stack``."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop every started part, last started first. Safe to call twice or without
        ``start``."""
        await self._stack.aclose()
