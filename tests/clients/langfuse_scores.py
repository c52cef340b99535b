"""Langfuse Python SDK 5.x scores against otelfuse: a traced span + generation, then numeric,
boolean and categorical scores on the trace, the generation and a session (``create_score``,
``span.score``, ``span.score_trace``), flushed (``POST /api/public/scores``, a JSON array), then
read back with the SDK's own API client (``api.scores.get_many`` = ``GET /api/public/v3/scores``).

Env: LANGFUSE_BASE_URL, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY; OTELFUSE_QUERY_URL (optional,
scale-out): where the reads go (the SDK's ``LangfuseAPI`` client), polled until every score
arrived since the receiver answers once Kafka has them, before the processor wrote them.
Prints one JSON line:
``{"trace_id", "observation_id", "session_id", "sdk_scores": [ScoreV3 as JSON], ...}``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from langfuse import Langfuse
from langfuse.api import LangfuseAPI

TRACE_SCORES = 5
"""Scores this script puts on its trace (and its generation)."""


def read_scores(api: Any, trace_id: str, session_id: str) -> tuple[list[Any], list[Any]]:
    """Every score of the trace (pages of 4, following the cursor) and of the session."""
    page = api.scores.get_many(trace_id=trace_id, fields="details,subject", limit=4)
    scores = [s.dict(by_alias=True) for s in page.data]
    cursor = page.meta.cursor
    while cursor:
        page = api.scores.get_many(
            trace_id=trace_id, fields="details,subject", limit=4, cursor=cursor
        )
        scores.extend(s.dict(by_alias=True) for s in page.data)
        cursor = page.meta.cursor
    session = api.scores.get_many(session_id=session_id, fields="subject")
    return scores, [s.dict(by_alias=True) for s in session.data]


def main() -> None:
    langfuse = Langfuse(environment="production", flush_at=100, flush_interval=0.2)
    session_id = f"session-{uuid.uuid4().hex[:8]}"
    with langfuse.start_as_current_observation(as_type="span", name="scored-request") as span:
        with langfuse.start_as_current_observation(
            as_type="generation", name="scored-generation", model="gpt-4o"
        ) as generation:
            generation.update(output="A protocol.")
            generation.score(name="correct", value=1, data_type="BOOLEAN", comment="checked")
            observation_id = generation.id
        span.score_trace(name="tone", value="friendly", data_type="CATEGORICAL")
        trace_id = span.trace_id
    langfuse.create_score(
        name="accuracy",
        value=0.92,
        trace_id=trace_id,
        score_id="sdk-accuracy",
        comment="high",
        metadata={"judge": "human", "round": 2},
    )
    langfuse.create_score(
        name="relevance", value=0.25, trace_id=trace_id, observation_id=observation_id
    )
    langfuse.create_score(name="helpful", value=0, data_type="BOOLEAN", trace_id=trace_id)
    langfuse.create_score(name="session-quality", value="good", session_id=session_id)
    langfuse.flush()

    query_url = os.environ.get("OTELFUSE_QUERY_URL")
    api: Any = langfuse.api
    if query_url:
        api = LangfuseAPI(
            base_url=query_url,
            username=os.environ["LANGFUSE_PUBLIC_KEY"],
            password=os.environ["LANGFUSE_SECRET_KEY"],
        )
    deadline = time.monotonic() + (30 if query_url else 0)
    scores, session_scores = read_scores(api, trace_id, session_id)
    while (len(scores) < TRACE_SCORES or not session_scores) and time.monotonic() < deadline:
        time.sleep(0.2)
        scores, session_scores = read_scores(api, trace_id, session_id)
    langfuse.shutdown()
    print(
        json.dumps(
            {
                "trace_id": trace_id,
                "observation_id": observation_id,
                "session_id": session_id,
                "sdk_scores": scores,
                "sdk_session_scores": session_scores,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
