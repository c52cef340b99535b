"""Golden tests for GenAI event log records: each recorded OTLP/JSON logs fixture
(``tests/fixtures/otlp_logs/``) → the expected ``from_log`` records, scores and refusals
(``tests/golden/logs/<case>.json``, reviewed by hand against docs/mapping.md "GenAI event log
records" and "Scores"). Regenerate after a deliberate change with ``OTELFUSE_UPDATE_GOLDEN=1``
and review the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from ingest.mapping import IngestContext
from ingest.mapping.logs import map_logs_request
from ingest.otlp.json_codec import parse_logs_request

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "otlp_logs"
GOLDEN = ROOT / "golden" / "logs"
CASES = sorted(path.stem for path in FIXTURES.glob("*.json"))
NOW_US = 1_763_800_000_000_000


def render(case: str) -> dict[str, Any]:
    request = parse_logs_request((FIXTURES / f"{case}.json").read_bytes())
    result = map_logs_request(request, IngestContext(project_id="proj-golden"), now_us=NOW_US)
    return {
        "records": [
            json_format.MessageToDict(r, preserving_proto_field_name=True) for r in result.records
        ],
        "scores": [
            json_format.MessageToDict(s, preserving_proto_field_name=True) for s in result.scores
        ],
        "accepted": result.accepted,
        "rejected": result.rejected,
        "errors": result.errors,
    }


def test_every_fixture_has_a_golden() -> None:
    assert CASES
    assert sorted(path.stem for path in GOLDEN.glob("*.json")) == CASES


@pytest.mark.parametrize("case", CASES)
def test_logs_golden(case: str) -> None:
    text = json.dumps(render(case), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path = GOLDEN / f"{case}.json"
    if os.environ.get("OTELFUSE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
        return
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text)
