"""OTLP ``AnyValue`` / ``KeyValue`` decoding into plain Python values
(docs/reference/langfuse.md §1.3).

Every attribute list (resource, scope, span, span event) is decoded once into a flat
``dict[str, Value]``; all mapping rules then look keys up in that dict.

Decoding, per ``AnyValue`` case:

| OTLP case                | Python value                                               |
|--------------------------|------------------------------------------------------------|
| ``string_value``         | ``str``                                                    |
| ``bool_value``           | ``bool``                                                   |
| ``int_value``            | ``int``                                                    |
| ``double_value``         | ``float``; NaN/±Infinity → the strings ``"NaN"``, ...      |
| ``array_value``          | ``list`` (recursive)                                       |
| ``kvlist_value``         | ``dict`` (recursive)          — deliberate, see below      |
| ``bytes_value``          | base64 ``str``                — deliberate, see below      |
| unset / ``*_strindex``   | ``None`` (profiles-only fields, docs/reference/otlp.md §1.3)    |

Deliberate deviation from Langfuse: Langfuse stores ``kvlistValue``/``bytesValue`` as
``JSON.stringify`` of the raw OTLP wrapper (``{"kvlistValue":{"values":[...]}}``). GenAI
semconv puts structured message content in kvlists on events, so we decode kvlists into real
objects and bytes into base64 text (their standard JSON form).

Duplicate keys: the last one wins (same as Langfuse's ``reduce``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Final

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from ingest.mapping.values import Value

__all__ = ["decode_any_value", "decode_key_values"]

_NON_FINITE: Final = {math.inf: "Infinity", -math.inf: "-Infinity"}


def decode_any_value(value: AnyValue) -> Value:
    """Decode one OTLP ``AnyValue`` into a plain Python value (table in the module docstring)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        number = value.double_value
        if math.isfinite(number):
            return number
        return _NON_FINITE.get(number, "NaN")
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [decode_any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return decode_key_values(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def decode_key_values(items: Sequence[KeyValue]) -> dict[str, Value]:
    """Decode an OTLP ``repeated KeyValue`` into ``{key: value}`` (attribute order kept)."""
    out: dict[str, Value] = {}
    # Indexed, not iterated: iterating a upb repeated field ends with an ``IndexError`` raised
    # (message formatted) and cleared, about 1,800 instructions per loop.
    for index in range(len(items)):
        item = items[index]
        value = item.value
        # Most values are non-empty strings, then non-zero ints and doubles. A non-default field of
        # the oneof is its set case, so these need no ``WhichOneof``: a field read costs about half
        # a method call (``bench.mapping_instructions``). Zeros, empty strings and the other cases
        # take the generic path.
        text = value.string_value
        if text:
            out[item.key] = text
            continue
        integer = value.int_value
        if integer:
            out[item.key] = integer
            continue
        number = value.double_value
        if number and math.isfinite(number):
            out[item.key] = number
        else:
            out[item.key] = decode_any_value(value)
    return out
