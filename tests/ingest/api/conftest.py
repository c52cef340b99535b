"""The ``api`` fixture: the read API over the session's chdb with two fresh projects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.clickhouse.chdb import ChdbClient
from tests.ingest.api.read_api import Api, open_api


@pytest.fixture
def api(engine: ChdbClient) -> Iterator[Api]:
    with open_api(engine) as opened:
        yield opened
