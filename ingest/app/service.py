"""The lifecycle every role implements (the collector's ``component.Component``)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Service"]


class Service(Protocol):
    """``start`` returns once the role serves; ``stop`` is idempotent, safe without ``start``,
    and flushes whatever the role holds before returning."""

    async def start(self) -> None:
        """Open dependencies, then start serving."""
        ...

    async def stop(self) -> None:
        """Stop serving, flush, close dependencies."""
        ...
