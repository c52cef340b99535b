"""Langfuse Python SDK 5.x scores against otelfuse: a traced span + generation, then numeric,
boolean and categorical scores on the trace, the generation and a session (``create_score``,
``span.score``, ``span.score_trace``), flushed (``POST /api/public/scores``, a JSON array), then
read back with the SDK's own API client (``api.scores.get_many`` = ``GET /api/public/v3/scores``).

Env: LANGFUSE_BASE_URL, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY. Prints one JSON line:
``{"trace_id", "observation_id", "session_id", "sdk_scores": [ScoreV3 as JSON], ...}``.
"""

from __future__ import annotations

import json
import uuid

from langfuse import Langfuse


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

    page = langfuse.api.scores.get_many(trace_id=trace_id, fields="details,subject", limit=4)
    scores = [s.dict(by_alias=True) for s in page.data]
    cursor = page.meta.cursor
    while cursor:
        page = langfuse.api.scores.get_many(
            trace_id=trace_id, fields="details,subject", limit=4, cursor=cursor
        )
        scores.extend(s.dict(by_alias=True) for s in page.data)
        cursor = page.meta.cursor
    session = langfuse.api.scores.get_many(session_id=session_id, fields="subject")
    langfuse.shutdown()
    print(
        json.dumps(
            {
                "trace_id": trace_id,
                "observation_id": observation_id,
                "session_id": session_id,
                "sdk_scores": scores,
                "sdk_session_scores": [s.dict(by_alias=True) for s in session.data],
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
