"""Final usage of one observation: provided usage plus ``total``, or a tokenizer estimate.

Langfuse's ``IngestionService.getUsageUnits`` (docs/reference/langfuse.md §4.4): provided usage wins
and gets ``total`` = Σ of its values when absent; otherwise, for a generation with a model, no
provided cost and level != ERROR, ``input`` and ``output`` are tokenized (the caller checks
those conditions). A side that cannot be counted is left out, never set to zero.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from processors.tokens import TokenCounter, count_chat_messages, is_chat_message

__all__ = ["count_payload", "estimate_usage", "usage_with_total"]

_JSON_STARTS = frozenset('[{"')


def usage_with_total(provided: Mapping[str, int]) -> dict[str, int]:
    """``provided`` (usage key -> tokens) plus ``total`` = Σ of the values when it is absent."""
    # dict() of a protobuf map goes through the Mapping ABC in Python; indexing is C-level
    usage = dict(provided) if type(provided) is dict else {k: provided[k] for k in provided}
    if "total" not in usage:
        usage["total"] = sum(usage.values())
    return usage


def estimate_usage(
    tokens: TokenCounter, model: str, input_text: str | None, output_text: str | None
) -> dict[str, int] | None:
    """Estimated ``{input, output, total}`` tokens of a generation's payloads.

    Args:
        tokens: the tokenizer.
        model: the provided model name (e.g. ``gpt-4o``, ``openai/gpt-4o-2024-08-06``).
        input_text, output_text: the observation's input/output as stored (JSON text or plain
            string), None when absent.

    Returns:
        The counted sides plus ``total`` (their sum); None when neither side could be counted
        (no payload, or no tokenizer for ``model``).
    """
    usage: dict[str, int] = {}
    for key, text in (("input", input_text), ("output", output_text)):
        if text is not None and (counted := count_payload(tokens, model, text)) is not None:
            usage[key] = counted
    if not usage:
        return None
    usage["total"] = sum(usage.values())
    return usage


def count_payload(tokens: TokenCounter, model: str, text: str) -> int | None:
    """Tokens of one stored payload.

    A JSON array of chat messages (or a single message object) is counted per message
    (``tokens.count_chat_messages``); a JSON string literal counts its decoded text; anything
    else (other JSON, plain text) counts the text as stored. None when ``model`` has no tokenizer.
    """
    parsed = _parse_json(text)
    if isinstance(parsed, str):
        return tokens.count(model, parsed)
    if isinstance(parsed, list) and parsed and all(is_chat_message(item) for item in parsed):
        return count_chat_messages(tokens, model, parsed)
    if isinstance(parsed, dict) and is_chat_message(parsed):
        return count_chat_messages(tokens, model, [parsed])
    return tokens.count(model, text)


def _parse_json(text: str) -> object:
    stripped = text.lstrip()
    if not stripped or stripped[0] not in _JSON_STARTS:
        return None
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None
