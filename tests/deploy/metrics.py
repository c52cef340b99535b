"""The Prometheus series otelfuse's code declares, found by reading its source (no import).

Every ``Counter``/``Gauge``/``Histogram``/``Summary`` constructed in ``ingest``, ``processors``
or ``storage`` with a literal ``otelfuse_*`` name counts; a name is expanded into the series
``prometheus_client`` exposes for that type (``_total`` for counters, ``_bucket``/``_sum``/
``_count`` for histograms, ...), which are the names PromQL uses.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

__all__ = ["PROMQL_METRIC", "ROOT", "declared_metrics", "declared_series", "metrics_in"]

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ingest", "processors", "storage")
PROMQL_METRIC = re.compile(r"\botelfuse_[a-z0-9_]+\b")

_SUFFIXES: dict[str, tuple[str, ...]] = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
}


def declared_metrics(root: Path = ROOT) -> dict[str, str]:
    """``{metric name as passed to prometheus_client: instrument type}``."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "_pb" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                first = node.args[0]
                if (
                    kind in _SUFFIXES
                    and isinstance(first, ast.Constant)
                    and isinstance(first.value, str)
                    and first.value.startswith("otelfuse_")
                ):
                    found[first.value] = kind
    return found


def declared_series(root: Path = ROOT) -> set[str]:
    """Every series name the declared metrics expose."""
    series: set[str] = set()
    for name, kind in declared_metrics(root).items():
        base = name.removesuffix("_total") if kind == "Counter" else name
        series.update(base + suffix for suffix in _SUFFIXES[kind])
    return series


def metrics_in(promql: str) -> set[str]:
    """The ``otelfuse_*`` series names a PromQL expression uses."""
    return set(PROMQL_METRIC.findall(promql))
