"""A local OpenAI-compatible server for the instrumentation tests (no network).

``POST /v1/chat/completions`` answers a fixed assistant message with usage
(13 prompt tokens of which 3 cached, 5 completion tokens of which 1 reasoning).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.service import free_port

REPLY = "OTLP is the OpenTelemetry Protocol."
RESPONSE_MODEL = "gpt-4o-2024-08-06"


async def chat_completions(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse(
        {
            "id": "chatcmpl-e2e",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": RESPONSE_MODEL if body.get("model") == "gpt-4o" else body.get("model"),
            "system_fingerprint": "fp_e2e",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 13,
                "completion_tokens": 5,
                "total_tokens": 18,
                "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 1, "audio_tokens": 0},
            },
        }
    )


@contextmanager
def fake_openai() -> Iterator[str]:
    """Run the fake server in a thread; yields its base URL (``http://127.0.0.1:PORT/v1``)."""
    port = free_port()
    app = Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
