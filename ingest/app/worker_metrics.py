"""``/metrics`` of the all-in-one owner with worker processes (``OTELFUSE_WORKERS`` > 1;
docs/architecture.md "Worker processes").

Each worker process counts its own requests (``otelfuse_receiver_*``, ``process_*``) in its own
Prometheus registry and sends the text exposition of it to the owner every
``PUSH_INTERVAL_S`` (``ingest.ipc`` ``METRICS`` frames). The owner's ``/metrics`` is its own
registry plus the latest snapshot of every worker, each worker's samples labelled
``worker="N"`` and placed in the family of the same name, so that every family appears once
(Prometheus text format: one ``TYPE`` line per family) and ``sum(rate(...))`` over a family
covers all processes. The workers' ``_created`` series (creation times) are left out: the
text format renders them as families of their own, which would repeat the owner's. A
worker's counters restart from zero when the worker is restarted,
which Prometheus's ``rate`` treats as a counter reset.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = ["PUSH_INTERVAL_S", "WorkerMetrics"]

PUSH_INTERVAL_S = 1.0
"""Seconds between two snapshots a worker sends: how stale its part of ``/metrics`` may be."""


class WorkerMetrics:
    """The workers' latest snapshots, merged into the owner's registry on ``render``."""

    def __init__(self) -> None:
        self._snapshots: dict[int, str] = {}

    def update(self, index: int, exposition: str) -> None:
        """Keep ``exposition`` (Prometheus text format) as worker ``index``'s snapshot."""
        self._snapshots[index] = exposition

    def collect(self) -> Iterable[Metric]:
        """The owner's metric families, with the workers' samples added (module docstring)."""
        families = {family.name: family for family in REGISTRY.collect()}
        for index, text in sorted(self._snapshots.items()):
            parsed = list(text_string_to_metric_families(text))
            names = {family.name for family in parsed}
            for family in parsed:
                if family.name.endswith("_created") and family.name[:-8] in names:
                    continue  # a counter's or histogram's creation time: left out
                target = families.get(family.name)
                if target is None or target.type != family.type:
                    if target is not None:  # same name, other type: keep the owner's only
                        continue
                    target = Metric(family.name, family.documentation, family.type)
                    families[family.name] = target
                target.samples.extend(
                    Sample(s.name, {**s.labels, "worker": str(index)}, s.value, s.timestamp)
                    for s in family.samples
                )
        return families.values()

    def render(self) -> bytes:
        """The ``/metrics`` body."""
        return generate_latest(self)  # any object with collect() is a registry here
