"""Rebuild nested values from flattened attribute keys (docs/reference/langfuse.md §1.11 steps
17-18).

OpenLLMetry and OpenInference flatten message lists into one attribute per leaf::

    gen_ai.prompt.0.role = "user"              llm.input_messages.0.message.role = "user"
    gen_ai.prompt.0.content = "Hi"             llm.input_messages.0.message.content = "Hi"

``rebuild_flattened`` turns them back into ``[{"role": "user", "content": "Hi"}]`` /
``[{"message": {"role": "user", "content": "Hi"}}]``:

- the exact key ``<prefix>`` (e.g. ``gen_ai.prompt``), when meaningful, is returned verbatim;
- when any key's first segment is numeric and followed by more segments, the result is a list
  (keys whose first segment is not numeric are then ignored), else an object;
- deeper segments build objects, or lists when the next segment is numeric;
- list indexes ≥ ``MAX_ARRAY_SLOTS`` (10,001 slots) are dropped, and so are keys with a
  ``__proto__`` / ``constructor`` / ``prototype`` segment;
- list holes are ``None`` (JSON ``null``); a key that would descend through a scalar is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ingest.mapping.values import Value, meaningful

__all__ = ["FORBIDDEN_SEGMENTS", "MAX_ARRAY_SLOTS", "rebuild_flattened"]

MAX_ARRAY_SLOTS: Final = 10_001
"""Largest list length a flattened key may create (index 10,000 is the last slot)."""

FORBIDDEN_SEGMENTS: Final = frozenset({"__proto__", "constructor", "prototype"})


def rebuild_flattened(attributes: dict[str, Value], keys: Iterable[str], prefix: str) -> Value:
    """Nested value for the flattened ``keys`` under ``prefix``; None when there is nothing.

    Args:
        attributes: decoded span attributes.
        keys: the attribute keys starting with ``prefix`` (in attribute order).
        prefix: e.g. ``"gen_ai.prompt"`` or ``"llm.input_messages"`` (no trailing dot).
    """
    exact = attributes.get(prefix)
    if meaningful(exact):
        return exact
    dotted = prefix + "."
    cut = len(dotted)
    paths: list[tuple[list[str], Value]] = []
    for key in keys:
        if key.startswith(dotted):
            path = key[cut:].split(".")
            if FORBIDDEN_SEGMENTS.isdisjoint(path):
                paths.append((path, attributes[key]))
    if not paths:
        return None
    if any(len(path) > 1 and _is_index(path[0]) for path, _ in paths):
        root: list[Value] = []
        for path, value in paths:
            if _is_index(path[0]):
                _set_path(root, path, value)
        return root
    obj: dict[str, Value] = {}
    for path, value in paths:
        _set_path(obj, path, value)
    return obj


def _is_index(segment: str) -> bool:
    """An ASCII decimal list index (``"0"``, ``"12"``)."""
    return segment.isascii() and segment.isdigit()


def _set_path(node: list[Value] | dict[str, Value], path: list[str], value: Value) -> None:
    """Set ``value`` at ``path`` under ``node``, creating containers; drop unreachable paths."""
    current: list[Value] | dict[str, Value] = node
    last = len(path) - 1
    for depth, segment in enumerate(path):
        if depth == last:
            _put(current, segment, value)
            return
        child = _get(current, segment)
        if child is None:
            child = [] if _is_index(path[depth + 1]) else {}
            if not _put(current, segment, child):
                return
        elif not isinstance(child, (list, dict)):
            return  # would descend through a scalar: JavaScript silently drops this too
        current = child


def _get(node: list[Value] | dict[str, Value], segment: str) -> Value:
    if isinstance(node, dict):
        return node.get(segment)
    if not _is_index(segment):
        return None
    index = int(segment)
    return node[index] if index < len(node) else None


def _put(node: list[Value] | dict[str, Value], segment: str, value: Value) -> bool:
    if isinstance(node, dict):
        node[segment] = value
        return True
    if not _is_index(segment):
        return False
    index = int(segment)
    if index >= MAX_ARRAY_SLOTS:
        return False
    if index >= len(node):
        node.extend([None] * (index + 1 - len(node)))
    node[index] = value
    return True
