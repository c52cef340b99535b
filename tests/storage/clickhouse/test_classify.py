"""The one error mapping (``classify_error``) for chdb messages and clickhouse-driver errors."""

from __future__ import annotations

import struct

import pytest
from clickhouse_driver import errors as driver

from storage.clickhouse.classify import (
    PERMANENT_CODES,
    RETRYABLE_CODES,
    classify_error,
    error_code,
)
from storage.errors import PermanentError, RetryableError


def server_error(code: int, message: str = "DB::Exception: x") -> driver.ServerException:
    return driver.ServerException(f"{message}. Stack trace:\n\n0. frame", code=code)


@pytest.mark.parametrize(
    "exc",
    [
        server_error(252, "Too many parts (300). Merges are processing significantly slower"),
        server_error(241, "Memory limit (for query) exceeded"),
        server_error(242, "Table is in readonly mode"),
        server_error(236, "Cancelled: server is shutting down"),
        server_error(394, "Query was cancelled"),
        server_error(159, "Timeout exceeded"),
        server_error(202, "Too many simultaneous queries"),
        server_error(60, "Table otelfuse.observations doesn't exist"),
        server_error(81, "Database otelfuse doesn't exist"),
        server_error(516, "default: Authentication failed"),
        driver.NetworkError("Connection refused (127.0.0.1:9000)"),
        driver.SocketTimeoutError("Code: 209. (127.0.0.1:9000)"),
        driver.UnexpectedPacketFromServerError("Unexpected packet"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError("timed out"),
        EOFError("Unexpected EOF while reading bytes"),
        RuntimeError("socket closed"),
        RuntimeError("Code: 252. DB::Exception: Too many parts. (TOO_MANY_PARTS)"),
    ],
    ids=lambda e: type(e).__name__ + str(getattr(e, "code", "")),
)
def test_retryable(exc: BaseException) -> None:
    assert isinstance(classify_error(exc, "INSERT INTO t VALUES"), RetryableError)


@pytest.mark.parametrize(
    "exc",
    [
        server_error(62, "Syntax error: failed at position 1"),
        server_error(47, "Unknown identifier: x"),
        server_error(16, "There is no column nope in table"),
        server_error(46, "Unknown function foo"),
        server_error(53, "Type mismatch in IN or VALUES section"),
        server_error(27, "Cannot parse input: expected ]"),
        server_error(6, "Cannot parse text"),
        server_error(41, "Cannot parse datetime"),
        server_error(117, "Cannot parse JSON"),
        driver.TypeMismatchError("Type mismatch in VALUES section. Column x"),
        driver.UnknownTypeError("Unknown type Dynamic"),
        TypeError("object of type 'int' has no len()"),
        AttributeError("'int' object has no attribute 'encode'"),
        struct.error("required argument is not an integer"),
        OverflowError("int too big to convert"),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        RuntimeError("Code: 62. DB::Exception: Syntax error (SYNTAX_ERROR)"),
    ],
    ids=lambda e: type(e).__name__ + str(getattr(e, "code", "")),
)
def test_permanent(exc: BaseException) -> None:
    assert isinstance(classify_error(exc, "SELECT 1"), PermanentError)


def test_codes_come_from_attribute_or_message() -> None:
    assert error_code(server_error(62)) == 62
    assert error_code(RuntimeError("Code: 241. DB::Exception: Memory limit")) == 241
    assert error_code(driver.PartiallyConsumedQueryError()) is None  # its code is -1
    assert error_code(ValueError("no code")) is None


def test_code_sets_do_not_overlap() -> None:
    assert not PERMANENT_CODES & RETRYABLE_CODES


def test_message_drops_server_stack_trace_and_names_the_statement() -> None:
    error = classify_error(server_error(62, "Syntax error"), "SELEC  1\n FROM t")
    text = str(error)
    assert "Stack trace" not in text
    assert text.startswith("ClickHouse error 62:")
    assert text.endswith("[SELEC 1 FROM t]")


def test_already_classified_errors_pass_through() -> None:
    permanent, retryable = PermanentError("bad record"), RetryableError("later")
    assert classify_error(permanent, "INSERT") is permanent
    assert classify_error(retryable, "INSERT") is retryable
