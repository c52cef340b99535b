"""Langfuse Python SDK 5.x prompt management against otelfuse: ``create_prompt`` (text with
config and commit message, a second version, a chat prompt with a placeholder),
``get_prompt`` by label, by version and by ``latest`` (cache off), ``compile``,
``update_prompt`` moving ``production``, a miss, and a generation created with ``prompt=``.

Env: LANGFUSE_BASE_URL, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY; argv[1]: a prefix for the
prompt names (folders: the SDK URL-encodes the ``/``). Prints one JSON line with what the SDK
returned (see ``main``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from langfuse import Langfuse
from langfuse.api import NotFoundError


def main() -> None:
    prefix = sys.argv[1]
    langfuse = Langfuse(flush_at=100, flush_interval=0.2)
    text_name, chat_name = f"{prefix}/greeting", f"{prefix}/agent"
    first = langfuse.create_prompt(
        name=text_name,
        prompt="Hello {{name}}",
        labels=["production"],
        config={"temperature": 0.3},
        commit_message="first",
    )
    second = langfuse.create_prompt(name=text_name, prompt="Hi {{name}}!", tags=["sdk"])
    chat = langfuse.create_prompt(
        name=chat_name,
        type="chat",
        prompt=[
            {"role": "system", "content": "You are {{persona}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"},
        ],
        labels=["production"],
    )
    production = langfuse.get_prompt(text_name, cache_ttl_seconds=0)
    by_version = langfuse.get_prompt(text_name, version=2, cache_ttl_seconds=0)
    latest = langfuse.get_prompt(text_name, label="latest", cache_ttl_seconds=0)
    updated = langfuse.update_prompt(name=text_name, version=2, new_labels=["production"])
    moved = langfuse.get_prompt(text_name, cache_ttl_seconds=0)
    chat_prompt = langfuse.get_prompt(chat_name, type="chat", cache_ttl_seconds=0)
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ahoy"}]
    try:
        langfuse.get_prompt(f"{prefix}/missing", cache_ttl_seconds=0, max_retries=0)
        missing = "found"
    except NotFoundError as exc:
        missing = f"{exc.status_code} {exc.body}"
    with langfuse.start_as_current_observation(
        as_type="generation", name="prompted", model="gpt-4o", prompt=moved
    ) as generation:
        generation.update(output="Hi Ada!")
        trace_id, observation_id = generation.trace_id, generation.id
    langfuse.flush()
    langfuse.shutdown()
    out: dict[str, Any] = {
        "created": [
            [p.version, p.labels, p.tags, p.config, p.commit_message] for p in (first, second, chat)
        ],
        "production": [production.version, production.compile(name="Ada")],
        "by_version": [by_version.version, by_version.compile(name="Ada")],
        "latest": latest.version,
        "updated": [updated.version, updated.labels],
        "moved": [moved.version, moved.labels, moved.is_fallback],
        "chat": chat_prompt.compile(persona="a pirate", question="Where?", history=history),
        "chat_raw": chat_prompt.prompt,
        "missing": missing,
        "trace_id": trace_id,
        "observation_id": observation_id,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
