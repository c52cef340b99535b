"""Score body validation (ingest.ingestion.scores.parse_score;
docs/reference/langfuse.md §3.2, §5)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.ingestion.scores import parse_score
from ingest.ingestion.values import Invalid

NOW = 1_763_800_000_000_000


def parse(allow_eval: bool = False, **body: Any) -> Any:
    return parse_score({"traceId": "t", **body}, "p1", now_us=NOW, allow_eval=allow_eval)


def test_numeric_defaults() -> None:
    s = parse(name="accuracy", value=0.9)
    assert (s.data_type, s.value, s.HasField("string_value")) == ("NUMERIC", 0.9, False)
    assert (s.source, s.environment, s.timestamp_us, s.project_id) == ("API", "default", NOW, "p1")
    assert len(s.id) == 36 and s.trace_id == "t"


@pytest.mark.parametrize(
    ("value", "number", "text"),
    [(1, 1.0, "True"), (0.0, 0.0, "False"), (True, 1.0, "True"), (False, 0.0, "False")],
)
def test_boolean(value: Any, number: float, text: str) -> None:
    s = parse(name="ok", value=value, dataType="BOOLEAN")
    assert (s.data_type, s.value, s.string_value) == ("BOOLEAN", number, text)


def test_inferred_types() -> None:
    assert parse(name="b", value=True).data_type == "BOOLEAN"
    s = parse(name="c", value="good")
    assert (s.data_type, s.value, s.string_value) == ("CATEGORICAL", 0.0, "good")


def test_all_fields() -> None:
    s = parse(
        id="score-1",
        name="n",
        value="fine",
        dataType="TEXT",
        observationId="o",
        sessionId="sess",
        datasetRunId="run",
        comment="c",
        metadata={"a": [1]},
        environment="langfuse-Prod",
        configId="cfg",
        queueId="q",
        source="ANNOTATION",
        timestamp="2025-11-22T00:06:40+01:00",
    )
    assert s.id == "score-1" and s.string_value == "fine" and s.value == 0.0
    assert (s.observation_id, s.session_id, s.dataset_run_id) == ("o", "sess", "run")
    assert (s.comment, s.config_id, s.queue_id, s.source) == ("c", "cfg", "q", "ANNOTATION")
    assert dict(s.metadata) == {"a": "[1]"} and s.environment == "prod"
    assert s.timestamp_us == 1_763_766_400_000_000


def test_session_score_needs_no_trace() -> None:
    s = parse_score({"name": "n", "value": 1, "sessionId": "sess"}, "p1", now_us=NOW)
    assert s.session_id == "sess" and not s.HasField("trace_id")


def test_non_object_metadata_is_kept() -> None:
    assert dict(parse(name="n", value=1, metadata="note").metadata) == {"metadata": '"note"'}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"value": 1}, "name is required"),
        ({"name": " ", "value": 1}, "name is required"),
        ({"name": "n"}, "value is required"),
        ({"name": "n", "value": [1]}, "value must be a number or a string"),
        ({"name": "n", "value": "x", "dataType": "NUMERIC"}, "NUMERIC score must be a finite"),
        ({"name": "n", "value": True, "dataType": "NUMERIC"}, "NUMERIC score must be a finite"),
        ({"name": "n", "value": 2, "dataType": "BOOLEAN"}, "BOOLEAN score must be 0, 1"),
        ({"name": "n", "value": "true", "dataType": "BOOLEAN"}, "BOOLEAN score must be 0, 1"),
        ({"name": "n", "value": 1, "dataType": "CATEGORICAL"}, "CATEGORICAL score must be a str"),
        ({"name": "n", "value": "", "dataType": "TEXT"}, "TEXT score must have 1..500"),
        ({"name": "n", "value": "x" * 501, "dataType": "TEXT"}, "TEXT score must have 1..500"),
        ({"name": "n", "value": "x", "dataType": "CORRECTION", "configId": "c"}, "configId"),
        ({"name": "n", "value": 1, "dataType": "numeric"}, "dataType must be one of"),
        ({"name": "n", "value": 1, "source": "EVAL"}, "EVAL is reserved"),
        ({"name": "n", "value": 1, "source": "USER"}, "source must be API or ANNOTATION"),
        ({"name": "n", "value": 1, "timestamp": "today"}, "timestamp must be an ISO-8601"),
        ({"name": "n", "value": 1, "comment": 5}, "comment must be a string"),
    ],
)
def test_invalid_scores_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        parse(**body)


def test_subject_rules() -> None:
    with pytest.raises(Invalid, match="one of traceId, sessionId or datasetRunId"):
        parse_score({"name": "n", "value": 1}, "p1", now_us=NOW)
    with pytest.raises(Invalid, match="observationId requires traceId"):
        parse_score(
            {"name": "n", "value": 1, "observationId": "o", "sessionId": "s"}, "p", now_us=NOW
        )
    with pytest.raises(Invalid, match="a score must be a JSON object"):
        parse_score([], "p1", now_us=NOW)


def test_eval_source_is_allowed_on_ingestion_events() -> None:
    assert parse(allow_eval=True, name="n", value=1, source="EVAL").source == "EVAL"
