"""GenAI evaluation results → Langfuse scores (issue 11 rule 10; docs/mapping.md "Scores").

A ``gen_ai.evaluation.result`` event (GenAI semantic conventions, event
``gen_ai.evaluation.result``: open-telemetry/semantic-conventions ``docs/gen-ai/gen-ai-events.md``
before the move to open-telemetry/semantic-conventions-genai) records one evaluator's verdict on
a GenAI operation. It arrives as a span event of the evaluated span or as an OTLP log record
whose span context names it. Its attributes:

| attribute                        | score field                                          |
|----------------------------------|------------------------------------------------------|
| ``gen_ai.evaluation.name``       | ``name`` (required: without it, no score)            |
| ``gen_ai.evaluation.score.value``| ``value`` (a finite number)                          |
| ``gen_ai.evaluation.score.label``| ``string_value``, data type CATEGORICAL              |
| ``gen_ai.evaluation.explanation``| ``comment``                                          |
| every other attribute            | ``metadata``, values as JSON text (evaluator,        |
|                                  | ``gen_ai.response.id``, ``error.type``, ...)         |

Data type: CATEGORICAL when a label is given (``value`` keeps the numeric score, or 0), else
NUMERIC; an event with neither a value nor a label gives no score. The score is on the evaluated
observation (``trace_id`` + ``observation_id`` = the span id; a log record without a span id
scores the trace), ``source`` API (Langfuse reserves EVAL for its own evaluators), timestamp =
the event time.

The score id is derived from project, trace id, span id and evaluation name
(``score_id``), so a resent export, or the same result sent as a span event and as a log record,
updates one score instead of adding another (``scores`` is a ``ReplacingMergeTree`` by id).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Final

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ingest.mapping.attributes import decode_key_values
from ingest.mapping.values import Value, json_encode
from storage.records import MAX_TIME_US, MIN_TIME_US, ObservationRecord, ScoreRecord

__all__ = ["EVALUATION_EVENT", "evaluation_score", "score_id", "span_event_scores"]

EVALUATION_EVENT: Final = "gen_ai.evaluation.result"
"""The GenAI semconv event name of an evaluation result."""

_NAME: Final = "gen_ai.evaluation.name"
_VALUE: Final = "gen_ai.evaluation.score.value"
_LABEL: Final = "gen_ai.evaluation.score.label"
_EXPLANATION: Final = "gen_ai.evaluation.explanation"
_MAPPED: Final = frozenset({_NAME, _VALUE, _LABEL, _EXPLANATION, "event.name"})


def score_id(project_id: str, trace_id: str, span_id: str, name: str) -> str:
    """A deterministic score id: 32 hex characters of SHA-256 over the four parts."""
    digest = hashlib.sha256("\x1f".join((project_id, trace_id, span_id, name)).encode())
    return digest.hexdigest()[:32]


def _number(value: Value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return None
        else:
            return None
    number = float(value)
    return number if math.isfinite(number) else None


def evaluation_score(
    attributes: Mapping[str, Value],
    *,
    project_id: str,
    trace_id: str,
    span_id: str,
    timestamp_us: int,
    environment: str,
) -> ScoreRecord | str:
    """The ``ScoreRecord`` of one ``gen_ai.evaluation.result`` event, or the reason it gives no
    score (a short text for ``partial_success``).

    Args:
        attributes: the event's decoded attributes.
        project_id: the authenticated project.
        trace_id: 32 lowercase hex characters.
        span_id: the evaluated span (16 hex characters), or "" for a trace-level score.
        timestamp_us: event time, Unix µs.
        environment: the normalised environment of the span or resource.
    """
    name = attributes.get(_NAME)
    if not isinstance(name, str) or not name.strip():
        return f"{EVALUATION_EVENT} without {_NAME}"
    value = _number(attributes.get(_VALUE))
    label = attributes.get(_LABEL)
    label_text = label if isinstance(label, str) and label else None
    if value is None and label_text is None:
        return f"{EVALUATION_EVENT} {name!r} has neither {_VALUE} nor {_LABEL}"
    record = ScoreRecord(
        project_id=project_id,
        id=score_id(project_id, trace_id, span_id, name),
        timestamp_us=timestamp_us,
        trace_id=trace_id,
        name=name,
        value=0.0 if value is None else value,
        data_type="NUMERIC" if label_text is None else "CATEGORICAL",
        source="API",
        environment=environment or "default",
    )
    if span_id:
        record.observation_id = span_id
    if label_text is not None:
        record.string_value = label_text
    explanation = attributes.get(_EXPLANATION)
    if isinstance(explanation, str) and explanation:
        record.comment = explanation
    for key, item in attributes.items():
        if key not in _MAPPED and item is not None:
            record.metadata[key] = json_encode(item)
    return record


def span_event_scores(events: Iterable[Span.Event], record: ObservationRecord) -> list[ScoreRecord]:
    """Scores of the ``gen_ai.evaluation.result`` events of one mapped span (``record``): on
    that observation, at the event time (the span's start when the event has none), in its
    environment. An event that gives no score is skipped (a span event cannot be refused alone)."""
    scores: list[ScoreRecord] = []
    for event in events:
        if event.name != EVALUATION_EVENT:
            continue
        time_us = event.time_unix_nano // 1000 or record.start_time_us
        if not MIN_TIME_US <= time_us <= MAX_TIME_US:
            time_us = record.start_time_us
        score = evaluation_score(
            decode_key_values(event.attributes),
            project_id=record.project_id,
            trace_id=record.trace_id,
            span_id=record.id,
            timestamp_us=time_us,
            environment=record.environment,
        )
        if isinstance(score, ScoreRecord):
            scores.append(score)
    return scores
