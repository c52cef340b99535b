"""Langfuse Python SDK 5.x with media in a generation: an OpenAI-style ``image_url`` data URI
in the input, an Anthropic-style base64 block in the output and a ``LangfuseMedia`` object in
the metadata; the SDK uploads each through ``/api/public/media`` before ``flush`` returns.

Env: LANGFUSE_BASE_URL, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY. Content is random, so every
run uploads new media. Prints ``{"trace_id", "observation_id", "media": [{"sha256" (hex),
"content_type", "source"}]}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any, cast

from langfuse import Langfuse
from langfuse.api import MediaContentType
from langfuse.media import LangfuseMedia

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff\xe0"


def main() -> None:
    png = PNG_MAGIC + os.urandom(40_000)
    jpeg = JPEG_MAGIC + os.urandom(30_000)
    pdf = b"%PDF-1.4\n" + os.urandom(20_000)
    langfuse = Langfuse()
    messages: Any = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
                },
            ],
        }
    ]
    answer: Any = {
        "role": "assistant",
        "content": [
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": "image/jpeg",
                    "data": base64.b64encode(jpeg).decode(),
                },
            }
        ],
    }
    report = LangfuseMedia(
        content_bytes=pdf, content_type=cast(MediaContentType, "application/pdf")
    )
    with langfuse.start_as_current_observation(
        as_type="generation",
        name="vision",
        model="gpt-4o",
        input=messages,
        output=answer,
        metadata={"report": report},
    ) as generation:
        trace_id, observation_id = generation.trace_id, generation.id
    langfuse.flush()
    langfuse.shutdown()
    media = [
        {"sha256": hashlib.sha256(data).hexdigest(), "content_type": kind, "source": source}
        for data, kind, source in (
            (png, "image/png", "base64_data_uri"),
            (jpeg, "image/jpeg", "base64_data_uri"),
            (pdf, "application/pdf", "bytes"),
        )
    ]
    print(json.dumps({"trace_id": trace_id, "observation_id": observation_id, "media": media}))


if __name__ == "__main__":
    main()
