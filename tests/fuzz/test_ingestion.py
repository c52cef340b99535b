"""Fuzzing the Langfuse ingestion event parser (``POST /api/public/ingestion``): whatever the
batch holds, ``parse_batch`` never raises (a bad event becomes a 400 entry, docs/reference/
langfuse.md §3.2), and every event is answered exactly once or converted into records that
encode."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from ingest.ingestion.events import parse_batch
from ingest.ingestion.observations import OBSERVATION_EVENT_TYPES
from ingest.mapping.context import IngestContext
from storage.records import encode_observation_batch, encode_score_batch
from tests.fuzz.budget import Budget, budgets
from tests.fuzz.strategies import json_values, texts

BODY_KEYS = [
    "id",
    "comment",
    "completionStartTime",
    "configId",
    "costDetails",
    "dataType",
    "endTime",
    "environment",
    "externalId",
    "input",
    "level",
    "metadata",
    "model",
    "modelParameters",
    "name",
    "output",
    "parentObservationId",
    "promptName",
    "promptVersion",
    "public",
    "queueId",
    "release",
    "sessionId",
    "source",
    "startTime",
    "statusMessage",
    "tags",
    "timestamp",
    "traceId",
    "type",
    "usage",
    "usageDetails",
    "userId",
    "value",
    "version",
    "observationId",
    "log",
]
"""Body fields the parser reads (Langfuse's ingestion event schemas)."""

EVENT_TYPES = [*OBSERVATION_EVENT_TYPES, "trace-create", "score-create", "sdk-log"]
_times = (
    st.sampled_from(
        ["2025-11-22T10:00:00Z", "2025-11-22T10:00:00.123456+02:00", "1970-01-01T00:00:00Z"]
    )
    | texts
)
_typed = st.one_of(
    _times,
    st.sampled_from(["GENERATION", "SPAN", "DEBUG", "ERROR", "NUMERIC", "BOOLEAN", "API"]),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.dictionaries(
        st.sampled_from(["input", "output", "total", "unit", "promptTokens", "x"]),
        json_values,
        max_size=4,
    ),
)
bodies = st.dictionaries(st.sampled_from(BODY_KEYS), _typed | json_values, max_size=12)
events = st.one_of(
    st.fixed_dictionaries(
        {
            "id": texts,
            "timestamp": _times,
            "type": st.sampled_from(EVENT_TYPES) | texts,
            "body": bodies,
        },
        optional={"metadata": json_values},
    ),
    json_values,
)


@budgets
def test_parse_batch_never_raises(budget: Budget) -> None:
    @budget.settings
    @given(st.lists(events, max_size=6))
    @example([{"id": "e", "timestamp": "2025-11-22T10:00:00Z", "type": "span-create", "body": {}}])
    @example([None, [], "x", {"id": 5}])
    def check(batch: list[Any]) -> None:
        parsed = parse_batch(batch, IngestContext(project_id="p"), now_us=1_763_770_000_000_000)
        answered = (
            len(parsed.records) + len(parsed.scores) + len(parsed.logged) + len(parsed.errors)
        )
        assert answered == len(batch)
        if parsed.records:
            encode_observation_batch([record for _, _, record in parsed.records])
        if parsed.scores:
            encode_score_batch([score for _, _, score in parsed.scores])

    check()
