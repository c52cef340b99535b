"""What the all-in-one owner hands its worker processes (``ingest.app.workers``)."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ingest.app.settings import Settings, available_cpus
from ingest.app.worker_metrics import WorkerMetrics
from ingest.app.workers import WorkerSpec, worker_settings
from ingest.memory_limiter import MemoryLimiterConfig
from ingest.telemetry import RECEIVER_METRICS


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


def test_worker_metrics_join_the_owners_families_once() -> None:
    RECEIVER_METRICS.accepted("http", 1)  # the owner's own series
    worker = CollectorRegistry()
    Counter("otelfuse_receiver_accepted_spans", "Spans.", ["transport"], registry=worker).labels(
        "grpc"
    ).inc(7)
    Gauge("otelfuse_test_worker_only", "Only in the worker.", registry=worker).set(3)
    metrics = WorkerMetrics()
    metrics.update(2, generate_latest(worker).decode())
    text = metrics.render().decode()
    types = [line for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))  # every family once
    assert "# TYPE otelfuse_receiver_accepted_spans_total counter" in types
    families = {f.name: f for f in text_string_to_metric_families(text)}
    accepted = families["otelfuse_receiver_accepted_spans"].samples
    assert any(s.labels == {"transport": "http"} for s in accepted)
    [from_worker] = [
        s for s in accepted if s.labels.get("worker") == "2" and s.name.endswith("_total")
    ]
    assert (from_worker.labels["transport"], from_worker.value) == ("grpc", 7.0)
    [only] = families["otelfuse_test_worker_only"].samples
    assert (only.labels, only.value) == ({"worker": "2"}, 3.0)


def test_the_default_worker_count_is_the_cpus_available(tmp_path: Path) -> None:
    """The affinity mask, capped by a cgroup v2 quota (``cpu.max``), rounded up, at least 1."""
    cpus = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    assert available_cpus(cpu_max) == cpus  # no cgroup file: the mask
    cpu_max.write_text("max 100000\n")
    assert available_cpus(cpu_max) == cpus
    cpu_max.write_text("150000 100000\n")  # docker run --cpus 1.5
    assert available_cpus(cpu_max) == min(cpus, 2)
    cpu_max.write_text("50000 100000\n")
    assert available_cpus(cpu_max) == 1
    cpu_max.write_text("garbage\n")
    assert available_cpus(cpu_max) == cpus
    assert Settings.from_env({}).server.workers == available_cpus()
    assert Settings.from_env({"OTELFUSE_WORKERS": "1"}).server.workers == 1
