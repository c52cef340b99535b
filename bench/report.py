"""Where benchmark reports go: one JSON file per run under ``bench/results/``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RESULTS", "save_report"]

RESULTS = Path(__file__).parent / "results"


def save_report(name: str, report: Mapping[str, Any]) -> Path:
    """Write ``report`` as indented JSON to ``bench/results/<name>-<UTC time>Z.json``
    (e.g. ``ingest-20261203T102858Z.json``) and return the path."""
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
