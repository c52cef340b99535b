"""One mapping from ClickHouse failures (embedded chdb or server) to the storage error model.

``PermanentError``: the statement or its data is wrong, so the same input always fails (syntax,
unknown identifier/column/function/type, type mismatch, a value that cannot be parsed or does not
fit its column, bad values met while serialising an insert). ``RetryableError``: everything else,
including network errors, timeouts, ``TOO_MANY_PARTS``, memory limits, read-only tables, a server
shutting down, authentication and permission failures, and a missing database or table.

A missing table or database is retryable on purpose: in scale-out mode the processor can start
before the ``migrate`` job has created the schema, and a permanent error would make it dead-letter
(and commit) every record of that window. A wrong database name therefore shows up as a stalled,
retrying processor (growing Kafka lag), not as lost data.
"""

from __future__ import annotations

import re
import struct

from storage.errors import PermanentError, RetryableError

__all__ = ["PERMANENT_CODES", "RETRYABLE_CODES", "classify_error", "error_code"]

_ERROR_CODE = re.compile(r"Code: (\d+)")

# ClickHouse error codes (src/Common/ErrorCodes.cpp) that mean "this statement or this data is
# wrong": retrying the same input can never succeed.
PERMANENT_CODES: frozenset[int] = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        7,  # INCORRECT_NUMBER_OF_COLUMNS
        8,  # THERE_IS_NO_COLUMN
        10,  # NOT_FOUND_COLUMN_IN_BLOCK
        16,  # NO_SUCH_COLUMN_IN_TABLE
        20,  # NUMBER_OF_COLUMNS_DOESNT_MATCH
        26,  # CANNOT_PARSE_QUOTED_STRING
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        32,  # ATTEMPT_TO_READ_AFTER_EOF (truncated input row)
        36,  # BAD_ARGUMENTS
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        42,  # NUMBER_OF_ARGUMENTS_DOESNT_MATCH
        43,  # ILLEGAL_TYPE_OF_ARGUMENT
        44,  # ILLEGAL_COLUMN
        46,  # UNKNOWN_FUNCTION
        47,  # UNKNOWN_IDENTIFIER
        48,  # NOT_IMPLEMENTED
        50,  # UNKNOWN_TYPE
        53,  # TYPE_MISMATCH
        62,  # SYNTAX_ERROR
        63,  # UNKNOWN_AGGREGATE_FUNCTION
        69,  # ARGUMENT_OUT_OF_BOUND (e.g. Decimal too big)
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        73,  # UNKNOWN_FORMAT
        117,  # INCORRECT_DATA
        130,  # CANNOT_READ_ARRAY_FROM_TEXT
        131,  # TOO_LARGE_STRING_SIZE
        135,  # ZERO_ARRAY_OR_TUPLE_INDEX
        179,  # MULTIPLE_EXPRESSIONS_FOR_ALIAS
        190,  # SIZES_OF_ARRAYS_DONT_MATCH
        215,  # NOT_AN_AGGREGATE
        352,  # AMBIGUOUS_COLUMN_NAME
        386,  # NO_COMMON_TYPE
        407,  # DECIMAL_OVERFLOW
        456,  # UNKNOWN_QUERY_PARAMETER
        457,  # BAD_QUERY_PARAMETER
    }
)

# Codes that are retryable by the default rule anyway; listed so the intent is explicit and tested.
RETRYABLE_CODES: frozenset[int] = frozenset(
    {
        60,  # UNKNOWN_TABLE (the migrate job has not run yet)
        81,  # UNKNOWN_DATABASE (idem)
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED (e.g. the server is shutting down)
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY (replica lost its Keeper session)
        252,  # TOO_MANY_PARTS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        516,  # AUTHENTICATION_FAILED (config error: stall, do not drop data)
    }
)

# Raised client-side by clickhouse-driver while serialising insert data of the wrong type/range.
_BAD_DATA = (TypeError, ValueError, OverflowError, AttributeError, struct.error)


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code of ``exc``: its ``code`` attribute (clickhouse-driver errors)
    or the ``Code: NNN`` in its message (chdb); ``None`` when it has neither."""
    code = getattr(exc, "code", None)
    if isinstance(code, int) and code > 0:
        return code
    match = _ERROR_CODE.search(str(exc))
    return int(match.group(1)) if match else None


def classify_error(exc: BaseException, sql: str) -> PermanentError | RetryableError:
    """Map a backend exception to ``PermanentError`` (bad statement/data) or ``RetryableError``.

    Order: ``PermanentError``/``RetryableError`` are returned as they are; a ClickHouse error
    code decides (``PERMANENT_CODES`` -> permanent, any other code ->
    retryable); without a code, network-level errors (``OSError``, ``EOFError``) are retryable and
    Python data errors raised while encoding values (``TypeError``, ``ValueError``,
    ``OverflowError``, ``AttributeError``, ``struct.error``) are permanent; anything else is
    retryable, as the OpenTelemetry Collector treats unknown failures. ``sql`` is only used for
    the message (its first 200 characters).
    """
    if isinstance(exc, PermanentError | RetryableError):
        return exc  # already classified (e.g. raised by a row builder during an insert)
    code = error_code(exc)
    head = " ".join(sql.split())[:200]
    # old servers append their C++ stack trace to the message: keep the message only
    detail = str(exc).split("Stack trace:", 1)[0].strip()[:1000] or type(exc).__name__
    text = f"ClickHouse error{f' {code}' if code is not None else ''}: {detail} [{head}]"
    if code is not None:
        if code in PERMANENT_CODES:
            return PermanentError(text)
        return RetryableError(text)
    if isinstance(exc, OSError | EOFError):
        return RetryableError(text)
    if isinstance(exc, _BAD_DATA):
        return PermanentError(
            f"invalid value for ClickHouse ({type(exc).__name__}: {detail}) [{head}]"
        )
    return RetryableError(text)
