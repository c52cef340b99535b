"""Langfuse Python SDK 5.x: a span with a nested generation, flushed to otelfuse.

Env: LANGFUSE_BASE_URL, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY. Prints ``{"trace_id": ...}``.
"""

from __future__ import annotations

import json

from langfuse import Langfuse, propagate_attributes


def main() -> None:
    langfuse = Langfuse(environment="production", release="v1.2.3")
    assert langfuse.auth_check(), "auth_check against otelfuse failed"
    with (
        langfuse.start_as_current_observation(
            as_type="span", name="lf-request", input={"question": "What is OTLP?"}
        ) as span,
        propagate_attributes(user_id="lf-user", session_id="lf-session", tags=["sdk"]),
    ):
        with langfuse.start_as_current_observation(
            as_type="generation",
            name="lf-generation",
            model="gpt-4o",
            model_parameters={"temperature": 0.1},
            input=[{"role": "user", "content": "What is OTLP?"}],
            usage_details={"input": 1000, "output": 200},
            metadata={"step": 1},
        ) as generation:
            generation.update(output={"role": "assistant", "content": "A protocol."})
        span.update(output={"answer": "A protocol."})
        trace_id = span.trace_id
    langfuse.flush()
    langfuse.shutdown()
    print(json.dumps({"trace_id": trace_id}))


if __name__ == "__main__":
    main()
