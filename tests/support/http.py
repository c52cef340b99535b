"""Role apps for in-process HTTP tests: routes wrapped by the real app factory."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from ingest.http.app import HealthCheck, create_app

__all__ = ["test_client"]


async def _healthy() -> str | None:
    return None


def test_client(routes: Sequence[BaseRoute], health: HealthCheck = _healthy) -> TestClient:
    """A TestClient over ``create_app(routes, health)`` (by default health is always OK)."""
    return TestClient(create_app(routes, health))


test_client.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
