"""The all-in-one's process step and what it leaves running (``ingest.app.processing``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from pathlib import Path

from ingest.app.clickhouse import Storage
from ingest.app.processing import observation_step
from ingest.app.settings import Settings
from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.migrate import apply_migrations
from storage.query.repository import Repository


def _filter_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "otelfuse-trace-filter" and t.is_alive()]


def test_closing_the_step_stops_the_trace_filter_load(client: ChdbClient, tmp_path: Path) -> None:
    """The trace-key filter loads the stored keys in a thread; closing the step's stack stops
    that load (and waits for it) before storage closes, so no loader outlives the engine."""
    db = f"step_{uuid.uuid4().hex[:12]}"
    apply_migrations(client, db)
    client.command(  # enough stored traces that the load is still running at the close
        f"INSERT INTO {db}.traces (id, project_id, timestamp, name, event_ts) "
        "SELECT toString(number), 'p', now64(6), '', now64(6) FROM numbers(400000)"
    )
    settings = Settings.from_env(
        {"OTELFUSE_DATA_DIR": str(tmp_path), "OTELFUSE_CLICKHOUSE_DATABASE": db}
    )
    storage = Storage(client, Repository(client, database=db))

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            await observation_step(settings, storage, None, stack)
            assert _filter_threads()  # loading
        assert _filter_threads() == []

    try:
        asyncio.run(scenario())
    finally:
        client.command(f"DROP DATABASE IF EXISTS {db}")
