"""Shared fixtures: one real all-in-one otelfuse process for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.service import Service, start_service


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``otelfuse run`` with default limits, on free ports, with a fixed test project."""
    svc = start_service(Path(tmp_path_factory.mktemp("otelfuse")))
    yield svc
    code = svc.stop()
    assert code == 0, f"otelfuse exited with {code}:\n{svc.log()}"
