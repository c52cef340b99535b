"""Rule 10: ``gen_ai.evaluation.result`` span events become Langfuse scores on the evaluated
observation (``ingest.mapping.evaluation``; docs/mapping.md "Scores")."""

from __future__ import annotations

from google.protobuf import json_format

from ingest.mapping.evaluation import evaluation_score, score_id
from storage.records import ScoreRecord
from tests.ingest.mapping.spans import (
    SPAN_ID,
    START_NS,
    TRACE_ID,
    make_request,
    make_span,
    map_request,
)

EVALUATION = {
    "gen_ai.evaluation.name": "relevance",
    "gen_ai.evaluation.score.value": 0.85,
    "gen_ai.evaluation.score.label": "relevant",
    "gen_ai.evaluation.explanation": "Answers the question.",
    "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.evaluator.name": "judge-gpt",
}


def test_span_event_becomes_a_categorical_score_on_its_observation() -> None:
    span = make_span(
        {"gen_ai.operation.name": "chat", "deployment.environment.name": "staging"},
        events=[("gen_ai.evaluation.result", EVALUATION)],
    )
    result = map_request(make_request(span))
    assert len(result.records) == 1 and len(result.scores) == 1
    score = json_format.MessageToDict(result.scores[0], preserving_proto_field_name=True)
    assert score == {
        "project_id": "proj-1",
        "id": score_id("proj-1", TRACE_ID.hex(), SPAN_ID.hex(), "relevance"),
        "timestamp_us": str(START_NS // 1000),
        "trace_id": TRACE_ID.hex(),
        "observation_id": SPAN_ID.hex(),
        "name": "relevance",
        "value": 0.85,
        "string_value": "relevant",
        "data_type": "CATEGORICAL",
        "source": "API",
        "comment": "Answers the question.",
        "metadata": {
            "gen_ai.response.id": '"chatcmpl-1"',
            "gen_ai.evaluator.name": '"judge-gpt"',
        },
        "environment": "staging",
    }


def _score(
    attributes: dict[str, int | str],
    *,
    span_id: str = "s" * 16,
    timestamp_us: int = 1,
    environment: str = "",
) -> ScoreRecord | str:
    return evaluation_score(
        attributes,
        project_id="p",
        trace_id="t" * 32,
        span_id=span_id,
        timestamp_us=timestamp_us,
        environment=environment,
    )


def test_value_only_is_numeric_and_the_id_is_stable() -> None:
    attributes: dict[str, int | str] = {
        "gen_ai.evaluation.name": "faithfulness",
        "gen_ai.evaluation.score.value": 4,
    }
    first, again = _score(attributes), _score(attributes, timestamp_us=2)
    assert isinstance(first, ScoreRecord) and isinstance(again, ScoreRecord)
    assert first.data_type == "NUMERIC" and first.value == 4.0
    assert not first.HasField("string_value") and not first.HasField("comment")
    assert first.environment == "default"
    assert first.id == again.id and len(first.id) == 32
    assert first.timestamp_us == 1 and again.timestamp_us == 2


def test_label_only_is_categorical_with_value_zero() -> None:
    score = _score(
        {"gen_ai.evaluation.name": "toxicity", "gen_ai.evaluation.score.label": "pass"},
        span_id="",
        environment="prod",
    )
    assert isinstance(score, ScoreRecord)
    assert (score.data_type, score.value, score.string_value) == ("CATEGORICAL", 0.0, "pass")
    assert not score.HasField("observation_id")  # a trace-level score


def test_events_without_name_or_result_give_no_score() -> None:
    no_name = _score({"gen_ai.evaluation.score.value": 1})
    no_result = _score({"gen_ai.evaluation.name": "x"})
    assert no_name == "gen_ai.evaluation.result without gen_ai.evaluation.name"
    assert isinstance(no_result, str) and "neither" in no_result
    span = make_span(events=[("gen_ai.evaluation.result", {"gen_ai.evaluation.name": "x"})])
    result = map_request(make_request(span))
    assert len(result.records) == 1 and result.scores == []
