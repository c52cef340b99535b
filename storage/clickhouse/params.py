"""Query parameters: ``{name:Type}`` placeholders, for chdb and for the native-protocol server.

Every statement in the code base uses ClickHouse's server-side parameter syntax
(``WHERE id = {id:String}``, values in a separate mapping). Two encodings:

- embedded chdb takes the parameters natively; ``encode_param`` gives each value the text form
  ClickHouse parses for a parameter;
- for a server reached with clickhouse-driver, ``to_driver_query`` rewrites each placeholder into
  ``CAST(%(name)s AS Type)`` and lets the driver's client-side substitution quote and escape the
  value (``clickhouse_driver.util.escape``), so the type semantics of ``{name:Type}`` are kept and
  no value is ever formatted into SQL by this code.

Why not the driver's server-side parameters (``server_side_params``): they need server protocol
54459 (ClickHouse >= 22.8), and a parameter named like a server setting (``limit``, ``offset``:
the repository uses both) is corrupted by every server before ClickHouse PR #110597 (2026,
issue #91168). Client-side rendering works on every server version, including the 18.16 test
server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from storage.errors import PermanentError

__all__ = ["encode_param", "has_placeholders", "to_driver_query"]

# One alternation, scanned left to right, so placeholders inside string literals, quoted
# identifiers and comments are left alone. Only the ``ph`` branch is rewritten.
_TOKENS = re.compile(
    r"""
      (?P<literal>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`)
    | (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<ph>\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<type>[^{}]+?)\s*\})
    """,
    re.VERBOSE | re.DOTALL,
)


def _escape_tsv(value: str) -> str:
    # Query parameters are parsed in ClickHouse's "Escaped" text format (as over HTTP).
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
    )


def _quote_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\")
            .replace("'", "\\'")
            .replace("\n", "\\n")
            .replace("\t", "\\t")
            .replace("\r", "\\r")
            .replace("\0", "\\0")
        )
        return f"'{escaped}'"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_quote_literal(v) for v in value) + "]"
    raise PermanentError(f"unsupported query parameter value of type {type(value).__name__}")


def encode_param(value: Any) -> str:
    """Encode a Python value as the text ClickHouse parses for a ``{name:Type}`` parameter.

    ``str`` -> Escaped text; ``None`` -> ``\\N`` (NULL); ``bool`` -> ``true``/``false``; numbers
    and ``Decimal`` -> decimal text; list/tuple -> an array literal of quoted values
    (``['a','b\\'c']``).

    Raises:
        PermanentError: an unsupported value type.
    """
    if isinstance(value, str):
        return _escape_tsv(value)
    if value is None:
        return "\\N"
    return _quote_literal(value)


def has_placeholders(sql: str) -> bool:
    """True when ``sql`` holds at least one ``{name:Type}`` placeholder outside literals."""
    return any(m.group("ph") for m in _TOKENS.finditer(sql))


def _driver_value(value: Any, name: str) -> Any:
    """A value the driver's client-side escaping renders as the right literal."""
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, bool):
        return int(value)  # CAST(1 AS Bool); ``True`` is no literal on old servers
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")  # exact text, parsed by CAST(... AS Decimal(P, S))
    if isinstance(value, list | tuple):
        return [_driver_value(v, name) for v in value]  # a tuple would render as a Tuple
    raise PermanentError(
        f"unsupported value of type {type(value).__name__} for query parameter {name!r}"
    )


def to_driver_query(
    sql: str, params: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any] | None]:
    """Rewrite ``{name:Type}`` placeholders for clickhouse-driver's client-side substitution.

    Returns ``(query, values)`` for ``Client.execute(query, values)``: each placeholder becomes
    ``CAST(%(name)s AS Type)`` and every other ``%`` is doubled, because the driver formats the
    query with ``%``. Without placeholders the SQL is returned unchanged with ``None``.
    Values: ``str``, ``int``, ``float``, ``bool``, ``Decimal``, ``None`` (``NULL``), or a
    list/tuple of those (an array).

    Raises:
        PermanentError: a placeholder has no value, or a value has an unsupported type.
    """
    params = params or {}
    parts: list[str] = []
    values: dict[str, Any] = {}
    last = 0
    for match in _TOKENS.finditer(sql):
        if not match.group("ph"):
            continue
        name, type_name = match.group("name"), match.group("type")
        if name not in params:
            raise PermanentError(f"query parameter {name!r} was not set")
        if name not in values:
            values[name] = _driver_value(params[name], name)
        parts.append(sql[last : match.start()].replace("%", "%%"))
        parts.append(f"CAST(%({name})s AS {type_name})")
        last = match.end()
    if not parts:
        return sql, None
    parts.append(sql[last:].replace("%", "%%"))
    return "".join(parts), values
