"""What the all-in-one owner hands its worker processes (``ingest.app.workers``)."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

from ingest.app.settings import Settings
from ingest.app.workers import WorkerSpec, worker_settings
from ingest.memory_limiter import MemoryLimiterConfig


def test_each_worker_gets_a_share_of_the_memory_budget() -> None:
    settings = Settings.from_env(
        {
            "OTELFUSE_WORKERS": "3",
            "OTELFUSE_MEMORY_LIMIT_MIB": "4000",
            "OTELFUSE_MEMORY_SPIKE_LIMIT_MIB": "800",
        }
    )
    worker = worker_settings(settings)
    assert (worker.memory.limit_mib, worker.memory.spike_limit_mib) == (1000, 200)
    assert worker.server == settings.server and worker.data_dir == settings.data_dir
    assert worker_settings(settings.from_env({"OTELFUSE_WORKERS": "2"})).memory.limit_mib > 0


def test_a_budget_that_is_off_stays_off() -> None:
    settings = Settings.from_env({"OTELFUSE_WORKERS": "2"})
    settings = dataclasses.replace(settings, memory=MemoryLimiterConfig(limit_percentage=0))
    assert worker_settings(settings) == settings


def test_the_spec_travels_pickled() -> None:
    settings = Settings.from_env({"OTELFUSE_WORKERS": "2", "OTELFUSE_DATA_DIR": "/srv/otelfuse"})
    spec = WorkerSpec(1, settings, 7, Path("/x/records.sock"), Path("/x/api.sock"), "postgresql://")
    assert pickle.loads(pickle.dumps(spec)) == spec
