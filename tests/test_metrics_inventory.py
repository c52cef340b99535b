"""Golden inventory of every otelfuse metric (name, type, labels) and the naming rules of
docs/architecture.md "Metrics": ``otelfuse_<subsystem>_<name>_<unit>``, counters end in ``_total``,
base units, bounded labels. Regenerate the golden with ``OTELFUSE_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.registry import Collector

import ingest.build_info
import ingest.http.metrics
import ingest.ingestion.telemetry
import ingest.telemetry
import processors.kafka.telemetry
import processors.telemetry
import storage.archive.telemetry
import storage.blobs.telemetry
import storage.clickhouse.telemetry

GOLDEN = Path(__file__).resolve().parent / "golden" / "metrics.txt"
MODULES = (
    ingest.build_info,
    ingest.http.metrics,
    ingest.ingestion.telemetry,
    ingest.telemetry,
    processors.kafka.telemetry,
    processors.telemetry,
    storage.archive.telemetry,
    storage.blobs.telemetry,
    storage.clickhouse.telemetry,
)
NAME = re.compile(r"^otelfuse_(receiver|processor|query|blob|archive|clickhouse|build)_[a-z0-9_]+$")
UNBOUNDED_LABELS = {"trace_id", "span_id", "project_id", "project", "model", "user_id", "path"}
UNITS = ("_seconds", "_bytes", "_records", "_partitions", "_usd", "_ratio")
"""Base units; counted things (records, Kafka partitions) are units of their own."""


def inventory() -> list[str]:
    """``name type label,label`` for every otelfuse metric in the default registry (exposed
    names: counters with ``_total``)."""
    collectors: dict[str, Collector] = REGISTRY._names_to_collectors
    lines = set()
    for collector in set(collectors.values()):
        describe = getattr(collector, "describe", None)
        if describe is None:  # process/platform collectors: not ours
            continue
        for family in describe():
            if not family.name.startswith("otelfuse_"):
                continue
            labels = ",".join(getattr(collector, "_labelnames", ()))
            # exposed name: prometheus_client adds _total to counters
            name = f"{family.name}_total" if family.type == "counter" else family.name
            lines.add(f"{name} {family.type} {labels}".rstrip())
    return sorted(lines)


def test_inventory_matches_golden() -> None:
    assert MODULES  # importing them registers their metrics
    current = "\n".join(inventory()) + "\n"
    if os.environ.get("OTELFUSE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(current)
    assert current == GOLDEN.read_text(), "metric inventory changed: review, then regenerate"


def test_naming_rules() -> None:
    for line in inventory():
        name, kind, *labels = line.split(" ")
        assert NAME.match(name), name
        assert (kind == "counter") == name.endswith("_total"), f"{name}: _total is for counters"
        if kind == "histogram":
            assert name.endswith(UNITS), f"{name}: histograms carry a base unit"
        if kind == "gauge" and name != "otelfuse_build_info":
            assert name.endswith(UNITS), f"{name}: gauges carry a base unit"
        for label in labels[0].split(",") if labels else ():
            assert label not in UNBOUNDED_LABELS, f"{name}: unbounded label {label}"
