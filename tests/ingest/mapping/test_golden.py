"""Golden tests: one OTLP/JSON fixture per convention → the expected ``ObservationRecord``s.

Fixtures: ``tests/fixtures/otlp/<case>.json`` (what each instrumentation really emits; most were
recorded from the real packages against a fake LLM server, with the scripts in
``tests/fixtures/record/``; ``tests/fixtures/otlp/README.md`` says which and with what
versions). Expected records: ``tests/golden/mapping/<case>.json``, each record rendered with
``MessageToDict(preserving_proto_field_name=True)``, keys sorted.

The goldens are the specification (docs/reference/langfuse.md §1.3-§1.12): they were reviewed by
hand. After a deliberate mapping change, regenerate with ``OTELFUSE_UPDATE_GOLDEN=1 pytest
tests/ingest/mapping`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from ingest.mapping import IngestContext, map_export_request
from ingest.otlp.json_codec import parse_export_request

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "otlp"
GOLDEN = ROOT / "golden" / "mapping"
CASES = sorted(path.stem for path in FIXTURES.glob("*.json"))
NOW_US = 1_763_800_000_000_000
UPDATE = os.environ.get("OTELFUSE_UPDATE_GOLDEN") == "1"

SDK_HEADERS: dict[str, tuple[str, str]] = {
    # The Langfuse Python SDK sends x-langfuse-sdk-name / x-langfuse-sdk-version.
    "langfuse_sdk": ("python", "5.0.4"),
}

EXPECTED_REJECTIONS: dict[str, int] = {"invalid_ids": 6}


def render(case: str) -> tuple[list[dict[str, Any]], int]:
    """Map one fixture; return its records as JSON-ready dicts and the rejected-span count."""
    request = parse_export_request((FIXTURES / f"{case}.json").read_bytes())
    sdk_name, sdk_version = SDK_HEADERS.get(case, ("", ""))
    ctx = IngestContext(project_id="proj-golden", sdk_name=sdk_name, sdk_version=sdk_version)
    result = map_export_request(request, ctx, now_us=NOW_US)
    records = [
        json_format.MessageToDict(record, preserving_proto_field_name=True)
        for record in result.records
    ]
    return records, result.rejected_spans


def test_every_fixture_has_a_golden() -> None:
    assert CASES, "no fixtures found"
    if UPDATE:
        pytest.skip("goldens are being rewritten")
    goldens = sorted(path.stem for path in GOLDEN.glob("*.json"))
    assert goldens == CASES


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    records, rejected = render(case)
    assert rejected == EXPECTED_REJECTIONS.get(case, 0)
    text = json.dumps(records, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path = GOLDEN / f"{case}.json"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden {path}; run with OTELFUSE_UPDATE_GOLDEN=1"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert json.loads(text) == expected
