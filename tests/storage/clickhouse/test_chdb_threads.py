"""Embedded ClickHouse keeps its thread count after many parts are removed (issue 15 item 10).

Reproduction: the all-in-one inserts small batches, so ``observations`` and ``traces`` gather
hundreds of parts that merges make inactive; ClickHouse's cleanup task (every
``cleanup_delay_period`` s) removes them, and from ``concurrent_part_removal_threshold`` (100)
inactive parts on it removes them in parallel on the server-wide parts-cleaning pool (up to
``max_parts_cleaning_thread_pool_size`` = 128 threads), whose threads then stay, idle, for the
life of the process (ClickHouse docs, "MergeTree tables settings"). ``ChdbClient`` declares a
``merge_tree_settings`` value that keeps removal sequential and ``apply_migrations`` sets it on
every table.

Each probe runs in a fresh interpreter: the pool is process-wide and earlier tests in this
process may have grown it already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.clickhouse.chdb import EMBEDDED_MERGE_TREE_SETTINGS, ChdbClient
from storage.clickhouse.migrate import apply_table_settings

_ROOT = Path(__file__).resolve().parents[3]
_RUN = (
    "import sys; from tests.storage.clickhouse.test_chdb_threads import probe_main;"
    " probe_main(sys.argv[1], sys.argv[2])"
)

_TABLE = "probe.parts"
_INACTIVE = (
    "SELECT count() AS n FROM system.parts"
    " WHERE database = 'probe' AND table = 'parts' AND NOT active"
)


def _pool_threads() -> int:
    """Threads of this process named ``ThreadPool`` (ClickHouse's pool workers)."""
    tasks = Path("/proc/self/task")
    return sum((task / "comm").read_text().strip() == "ThreadPool" for task in tasks.iterdir())


def probe_main(path: str, variant: str) -> None:
    """In a fresh interpreter: a MergeTree table given the embedded settings by
    ``apply_table_settings`` (variant ``"with"``) or ClickHouse's defaults (``"without"``), 150
    parts made inactive, ClickHouse left to remove them; prints the pool's thread counts before
    and after, and the inactive parts left, as JSON."""
    client = ChdbClient(Path(path))
    client.command("CREATE DATABASE probe")
    # Cleanup every second instead of every 30 s: test speed only.
    client.command(
        f"CREATE TABLE {_TABLE} (id String) ENGINE = ReplacingMergeTree ORDER BY id"
        " SETTINGS cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,"
        " merge_tree_clear_old_parts_interval_seconds = 1"
    )
    if variant == "with":
        apply_table_settings(client, "probe")
    client.command(f"SYSTEM STOP MERGES {_TABLE}")
    for i in range(150):  # 150 parts of one row
        client.command(f"INSERT INTO {_TABLE} SELECT 't{i}'")
    client.command(f"SYSTEM START MERGES {_TABLE}")
    before = _pool_threads()
    client.command(f"OPTIMIZE TABLE {_TABLE} FINAL")  # the 150 parts become inactive
    deadline = time.monotonic() + 60
    while client.select(_INACTIVE)[0]["n"] and time.monotonic() < deadline:
        time.sleep(0.2)
    left = client.select(_INACTIVE)[0]["n"]
    print(json.dumps({"before": before, "after": _pool_threads(), "left": left}))


def _probe(tmp_path: Path, variant: str) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(tmp_path / variant), variant],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=_ROOT,
        check=True,
    )
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_embedded_tables_remove_inactive_parts_without_a_thread_pool() -> None:
    assert EMBEDDED_MERGE_TREE_SETTINGS["concurrent_part_removal_threshold"] > 10_000


@pytest.mark.service
def test_removing_many_inactive_parts_leaves_no_idle_pool_threads(tmp_path: Path) -> None:
    fixed = _probe(tmp_path, "with")
    assert fixed["left"] == 0, fixed  # the cleanup did run
    assert fixed["after"] - fixed["before"] < 20, fixed

    # The same run with ClickHouse's default threshold grows the pool: the probe can fail.
    default = _probe(tmp_path, "without")
    assert default["left"] == 0, default
    assert default["after"] - default["before"] >= 50, default
