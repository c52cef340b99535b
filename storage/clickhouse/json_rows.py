"""JSONCompactEachRow encoding of insert rows for embedded chdb (``ChdbClient.insert_rows``).

One JSON array per row (ClickHouse docs, "JSONCompactEachRow"), encoded with orjson as the rows
are produced; times become the Unix-seconds text of ``micros``, ``Decimal`` becomes its plain
text, which ClickHouse parses exactly into ``Decimal(P, S)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson

from storage.clickhouse.columns import check_rows
from storage.clickhouse.micros import us_seconds_text, us_text
from storage.clickhouse.types import Converter, build_converter

__all__ = ["chdb_converter", "encode_json_rows"]


def _chdb_leaf(family: str, args: list[str]) -> Converter | None:
    if family == "DateTime64":
        return us_text
    if family == "DateTime":
        return us_seconds_text
    return None


@lru_cache(maxsize=1024)
def chdb_converter(type_name: str) -> Converter | None:
    """The converter ``ChdbClient`` applies to insert values of ``type_name`` before JSON
    encoding (Unix µs -> ``DateTime64``/``DateTime`` text, nested too); None: values pass as
    they are."""
    return build_converter(type_name, _chdb_leaf, leaf_passes_none=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not a ClickHouse insert value")


def encode_json_rows(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[str],
    converters: Sequence[tuple[int, Converter]],
) -> bytes:
    """``rows`` as JSONCompactEachRow (one JSON array per line), after ``converters`` ran on
    their column index. Each row is encoded as soon as it is produced (cache-friendly).

    Raises:
        PermanentError: a row does not have ``len(columns)`` values.
        TypeError: a value orjson cannot encode (classified as permanent by the caller).
    """
    dumps = orjson.dumps
    width = len(columns)
    lines = []
    for row in rows:
        if len(row) != width:
            check_rows(columns, [row])  # raises with the details
        if converters:
            values = list(row)
            for index, convert in converters:
                values[index] = convert(values[index])
            lines.append(dumps(values, default=_json_default))
        else:
            lines.append(dumps(row, default=_json_default))
    return b"\n".join(lines)
