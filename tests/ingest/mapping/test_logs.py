"""GenAI event log records → partial input/output records and scores
(``ingest.mapping.logs``; docs/mapping.md "GenAI event log records")."""

from __future__ import annotations

import json

from ingest.mapping import IngestContext
from ingest.mapping.logs import NOT_GENAI, map_logs_request
from tests.ingest.mapping.logs import make_log, make_logs_request
from tests.ingest.mapping.spans import NOW_US, SPAN_ID, TRACE_ID, make_request, make_span
from tests.ingest.mapping.spans import map_request as map_spans

CTX = IngestContext(project_id="proj-1")

LEGACY = (
    make_log(
        "gen_ai.system.message",
        body={"content": "You are terse."},
        attributes={"gen_ai.system": "openai"},
    ),
    make_log(
        "gen_ai.user.message",
        body={"content": "What is OTLP?"},
        attributes={"gen_ai.system": "openai"},
    ),
    make_log(
        "gen_ai.choice",
        body={
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "A protocol."},
        },
        attributes={"gen_ai.system": "openai"},
    ),
)


def test_legacy_message_events_give_the_span_event_io() -> None:
    result = map_logs_request(make_logs_request(*LEGACY), CTX, now_us=NOW_US)
    assert (result.accepted, result.rejected) == (3, 0)
    [record] = result.records
    assert record.partial and record.from_log
    assert (record.project_id, record.id, record.trace_id) == (
        "proj-1",
        SPAN_ID.hex(),
        TRACE_ID.hex(),
    )
    # exactly what the same events give as span events (io.py steps 4-6)
    twin = make_span(
        events=[
            ("gen_ai.system.message", {"content": "You are terse."}),
            ("gen_ai.user.message", {"content": "What is OTLP?"}),
            (
                "gen_ai.choice",
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "A protocol."},
                },
            ),
        ]
    )
    [span_record] = map_spans(make_request(twin)).records
    assert record.input == span_record.input and record.output == span_record.output
    assert json.loads(record.input) == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is OTLP?"},
    ]
    assert json.loads(record.output)["message"]["content"] == "A protocol."
    # only ids and input/output are set: the fold changes nothing else on the span
    assert {f.name for f, _ in record.ListFields()} == {
        "project_id",
        "id",
        "trace_id",
        "input",
        "output",
        "partial",
        "from_log",
    }


def test_operation_details_event_in_attributes_and_event_name_attribute() -> None:
    details = make_log(
        "gen_ai.client.inference.operation.details",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}]
            ),
        },
        name_in_attribute=True,
    )
    [record] = map_logs_request(make_logs_request(details), CTX, now_us=NOW_US).records
    assert json.loads(record.input)[0] == {"role": "system", "content": "Be brief."}
    assert json.loads(record.output)[0]["parts"][0]["content"] == "Hello"


def test_evaluation_log_record_becomes_a_score() -> None:
    evaluation = make_log(
        "gen_ai.evaluation.result",
        attributes={"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 1},
    )
    result = map_logs_request(
        make_logs_request(evaluation, resource={"deployment.environment.name": "prod"}),
        CTX,
        now_us=NOW_US,
    )
    assert result.records == [] and result.accepted == 1
    [score] = result.scores
    assert (score.name, score.value, score.data_type) == ("relevance", 1.0, "NUMERIC")
    assert score.observation_id == SPAN_ID.hex() and score.environment == "prod"


def test_other_log_records_and_events_without_span_context_are_refused() -> None:
    request = make_logs_request(
        make_log("app.started"),
        make_log("", body="plain log line"),
        make_log("gen_ai.user.message", body={"content": "x"}, span_id=b""),
        make_log("gen_ai.evaluation.result", attributes={"gen_ai.evaluation.name": "x"}),
        *LEGACY,
    )
    result = map_logs_request(request, CTX, now_us=NOW_US)
    assert (result.not_genai, result.invalid, result.accepted) == (2, 2, 3)
    assert result.rejected == 4 and len(result.records) == 1
    assert result.errors[0] == f'log record 0 "app.started": not a GenAI event; {NOT_GENAI}'
    assert result.errors[1] == f"log record 1: not a GenAI event; {NOT_GENAI}"
    assert result.errors[2] == 'log record 2 "gen_ai.user.message": no valid span_id'
