"""The one nesting policy for JSON values that are stored and later rendered.

orjson, which renders every response, refuses values nested deeper than 254 levels; Python's
own ``json`` and any recursive walk fail near 1,000. Ingest accepts bodies orjson can parse
(1,024 levels), so without a policy one stored span could make every read of its project fail.
The policy (docs/operations.md "Limits"):

- **reads**: a stored JSON text nested deeper than ``MAX_DEPTH`` is returned as the text itself,
  not decoded (``storage.query.shapes.decode_json_text``), so every response stays within
  orjson's limit, whatever was stored;
- **writes**: a value too deep to encode is stored with every container below ``MAX_DEPTH``
  replaced by ``TRUNCATED`` (``truncate``), instead of failing the request.

``MAX_DEPTH`` leaves room for the response envelope (``{"observations": [{"metadata": {k: v}}]}``
adds four levels).
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_DEPTH", "TRUNCATED", "deeper_than", "text_deeper_than", "truncate"]

MAX_DEPTH = 128
"""Deepest nesting (containers inside containers) of a value that is rendered as JSON."""

TRUNCATED = f"[truncated: nested deeper than {MAX_DEPTH} levels]"
"""What replaces a container nested deeper than ``MAX_DEPTH`` when a value is stored."""


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` (decoded JSON: dicts, lists, scalars) nests containers more than
    ``limit`` levels deep. Iterative, stops at the first path past ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def text_deeper_than(text: str, decoded: Any, limit: int = MAX_DEPTH) -> bool:
    """``deeper_than(decoded)`` for the JSON ``text`` it was parsed from, answered without a
    walk when the text holds no more than ``limit`` brackets (a cheap C-speed count)."""
    if not isinstance(decoded, dict | list):
        return False
    if text.count("[") + text.count("{") <= limit:
        return False
    return deeper_than(decoded, limit)


def truncate(value: Any, limit: int = MAX_DEPTH) -> Any:
    """A copy of ``value`` whose containers nested deeper than ``limit`` are replaced by
    ``TRUNCATED``; shallower parts are kept as they are. Recursion depth is bounded by
    ``limit``."""
    return _truncate(value, limit, 1)


def _truncate(value: Any, limit: int, depth: int) -> Any:
    if not isinstance(value, dict | list | tuple):
        return value
    if depth > limit:
        return TRUNCATED
    if isinstance(value, dict):
        return {key: _truncate(child, limit, depth + 1) for key, child in value.items()}
    return [_truncate(child, limit, depth + 1) for child in value]
