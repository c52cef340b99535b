"""Langfuse metadata merging (docs/reference/langfuse.md §3.4): maps of top-level key → JSON text.

Used wherever a later write updates earlier metadata: ingestion update events onto stored
observations (``processors.merge``) and trace-level metadata onto trace rows
(``storage.clickhouse.traces``).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson

__all__ = ["merge_metadata", "merge_metadata_into"]


def merge_metadata(base: Mapping[str, str], update: Mapping[str, str]) -> dict[str, str]:
    """Deep merge of two metadata maps whose values are JSON text; inputs unchanged.

    A key in both whose values are both JSON objects gets the recursive merge of the objects
    (a ``null`` or ``{}`` member never overwrites); otherwise the ``update`` value replaces the
    base value, except that an empty object never overwrites.
    """
    merged = dict(base)
    merge_metadata_into(merged, update)
    return merged


def merge_metadata_into(target: MutableMapping[str, str], update: Mapping[str, str]) -> None:
    """``merge_metadata`` in place on ``target``. JSON is parsed only for a key present on both
    sides with different text (the common repeated value costs one string comparison)."""
    for key in update:  # not .items(): a protobuf map's items view is Python-level
        text = update[key]
        old = target.get(key)
        if old is None:
            target[key] = text
            continue
        if old == text:
            continue
        new_obj, old_obj = _json_object(text), _json_object(old)
        if new_obj is not None and old_obj is not None:
            target[key] = orjson.dumps(_deep_merge(old_obj, new_obj)).decode()
        elif new_obj is None or new_obj:
            target[key] = text


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = _deep_merge(old, value)
        elif value is not None and value != {}:
            merged[key] = value
    return merged
