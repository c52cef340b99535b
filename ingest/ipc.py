"""The local hand-off between receiver worker processes and the all-in-one owner
(``OTELFUSE_WORKERS`` > 1; docs/architecture.md "Worker processes").

A worker maps OTLP exports to records and hands them to the owner, the one process that holds
embedded ClickHouse and the ``Pipeline``, over a Unix socket in a private (0700) folder:

- ``OwnerChannel`` (worker side) is a ``RecordSink`` and a ``ScoreSink``: ``submit`` sends one
  frame and returns the owner's answer, which the owner sends only after its own sink returned,
  i.e. after the records were written (the guarantee of ``ingest.sinks`` is unchanged).
- ``serve_owner_channel`` (owner side) answers the frames of one connection, concurrently.

Frames, both ways: ``kind`` (1 byte), ``call id`` (8 bytes), payload length (4 bytes), all
big-endian, then the payload. Requests: ``RECORDS`` (an ``ObservationBatch``,
``storage.records.encode_observation_batch``), ``SCORES`` (a ``ScoreBatch``), ``HELLO`` (the
worker's index, ASCII: sent once its servers listen), ``METRICS`` (the index, a newline, then
the worker's Prometheus text exposition: ``ingest.app.worker_metrics``). Answers carry the
call id and a JSON payload: ``OK`` ``{"refused": {index: reason}, "room": bool}`` (``room``:
the owner's queue would admit more, for admission control before decoding), ``RETRY``
``{"message", "retry_after_s", "overloaded"}`` (raised again as ``Overloaded`` /
``RetryableError``), ``PERMANENT`` ``{"message"}`` (``PermanentError``). A lost connection
fails every call in flight with ``RetryableError``: the owner may still write those records,
and the client's retry is harmless (rows are keyed by id).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ingest.sinks import RecordSink, ScoreSink
from processors.pipeline import Overloaded
from storage.errors import PermanentError, RetryableError
from storage.records import (
    ObservationRecord,
    ScoreRecord,
    decode_observation_batch,
    decode_score_batch,
    encode_observation_batch,
    encode_score_batch,
)

__all__ = [
    "HELLO",
    "METRICS",
    "OK",
    "PERMANENT",
    "RECORDS",
    "RETRY",
    "ROOM_TTL_S",
    "SCORES",
    "OwnerChannel",
    "serve_owner_channel",
]

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">BQI")
RECORDS, SCORES, HELLO, METRICS = 1, 2, 3, 4
"""Request kinds."""
OK, RETRY, PERMANENT = 0, 1, 2
"""Answer kinds."""
ROOM_TTL_S = 0.5
"""Seconds a "queue full" answer keeps refusing new exports in the worker before decoding;
afterwards the next export is decoded and sent, and its answer tells again."""


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    """One frame: (kind, call id, payload); raises ``asyncio.IncompleteReadError`` at EOF."""
    kind, call, size = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return kind, call, await reader.readexactly(size)


def _frame(kind: int, call: int, payload: bytes) -> bytes:
    return _HEADER.pack(kind, call, len(payload)) + payload


class OwnerChannel:
    """Worker side: the owner's pipeline and score writer as a ``RecordSink`` and
    ``ScoreSink`` over the Unix socket at ``path``. ``closed`` is set when the connection is
    lost (the owner stopped or died): the worker then stops."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._calls: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._full_until = 0.0
        self._closing = False
        self.closed = asyncio.Event()

    async def connect(self) -> None:
        """Open the connection and start reading answers.

        Raises:
            OSError: the owner's socket does not answer.
        """
        self._reader, self._writer = await asyncio.open_unix_connection(str(self._path))
        self._task = asyncio.create_task(self._read_answers(), name="otelfuse-owner-channel")

    async def hello(self, index: int) -> None:
        """Tell the owner this worker serves (its servers are listening)."""
        await self._call(HELLO, str(index).encode())

    async def push_metrics(self, index: int, exposition: bytes) -> None:
        """Send this worker's metrics (Prometheus text exposition) to the owner."""
        await self._call(METRICS, f"{index}\n".encode() + exposition)

    def has_room(self, records: int = 1) -> bool:
        """False for ``ROOM_TTL_S`` after the owner answered that its queue is full."""
        return not self.closed.is_set() and time.monotonic() >= self._full_until

    async def submit(self, records: Sequence[ObservationRecord]) -> dict[int, str]:
        """Send ``records`` to the owner's pipeline; returns once they are written, with the
        records refused for good by index.

        Raises:
            Overloaded: the owner's queue is full (retryable).
            RetryableError: the write failed, or the connection to the owner was lost.
            PermanentError: the records can never be stored.
        """
        if not records:
            return {}
        return await self._call(RECORDS, encode_observation_batch(records))

    async def submit_scores(self, records: Sequence[ScoreRecord]) -> dict[int, str]:
        """As ``submit``, for scores (the owner's score writer)."""
        if not records:
            return {}
        return await self._call(SCORES, encode_score_batch(records))

    async def close(self) -> None:
        """Close the connection; calls in flight fail with ``RetryableError``."""
        self._closing = True
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._fail_all()

    async def _call(self, kind: int, payload: bytes) -> dict[int, str]:
        if self._writer is None or self.closed.is_set():
            raise RetryableError("the owner process is not reachable")
        call = next(self._ids)
        answer: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._calls[call] = answer
        try:
            self._writer.write(_frame(kind, call, payload))
            await self._writer.drain()
            status, body = await answer
        except (OSError, RuntimeError) as exc:
            raise RetryableError(f"connection to the owner process lost: {exc}") from None
        finally:
            self._calls.pop(call, None)
        detail = json.loads(body) if body else {}
        if status == OK:
            if not detail.get("room", True):
                self._full_until = time.monotonic() + ROOM_TTL_S
            return {int(index): reason for index, reason in detail.get("refused", {}).items()}
        message = str(detail.get("message", "owner process failed"))
        if status == PERMANENT:
            raise PermanentError(message)
        retry_after_s = float(detail.get("retry_after_s", 1.0))
        if detail.get("overloaded"):
            self._full_until = time.monotonic() + ROOM_TTL_S
            raise Overloaded(message, retry_after_s=retry_after_s)
        raise RetryableError(message, retry_after_s=retry_after_s)

    async def _read_answers(self) -> None:
        assert self._reader is not None
        try:
            while True:
                status, call, body = await _read_frame(self._reader)
                answer = self._calls.get(call)
                if answer is not None and not answer.done():
                    answer.set_result((status, body))
        except (asyncio.IncompleteReadError, OSError):
            if not self._closing:
                log.warning("connection to the owner process lost: stopping")
        finally:
            self.closed.set()
            self._fail_all()

    def _fail_all(self) -> None:
        self.closed.set()
        for answer in self._calls.values():
            if not answer.done():
                answer.set_exception(RetryableError("connection to the owner process lost"))


async def serve_owner_channel(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    records: RecordSink,
    scores: ScoreSink,
    on_hello: Callable[[int], None],
    on_metrics: Callable[[int, str], None] | None = None,
) -> None:
    """Owner side: answer the frames of one worker connection until it closes. Each frame is
    handled in its own task (calls of one worker run concurrently, as they would in one
    process); an answer is sent once ``records``/``scores`` returned or raised. ``on_hello``
    gets the index of a worker that listens, ``on_metrics`` a worker's index and metrics."""
    tasks: set[asyncio.Task[None]] = set()

    async def answer(kind: int, call: int, payload: bytes) -> None:
        status, body = await _handle(kind, payload, records, scores, on_hello, on_metrics)
        if not writer.is_closing():
            writer.write(_frame(status, call, body))
            with contextlib.suppress(OSError):
                await writer.drain()

    try:
        while True:
            try:
                kind, call, payload = await _read_frame(reader)
            except (asyncio.IncompleteReadError, OSError):
                break
            task = asyncio.create_task(answer(kind, call, payload))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        if tasks:  # a worker that died: its records are still written, the answers dropped
            await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _handle(
    kind: int,
    payload: bytes,
    records: RecordSink,
    scores: ScoreSink,
    on_hello: Callable[[int], None],
    on_metrics: Callable[[int, str], None] | None,
) -> tuple[int, bytes]:
    refused: Mapping[int, str]
    try:
        if kind == RECORDS:
            refused = await records.submit(decode_observation_batch(payload))
        elif kind == SCORES:
            refused = await scores.submit_scores(decode_score_batch(payload))
        elif kind == HELLO:
            on_hello(int(payload.decode()))
            refused = {}
        elif kind == METRICS:
            index, _, exposition = payload.decode().partition("\n")
            if on_metrics is not None:
                on_metrics(int(index), exposition)
            refused = {}
        else:
            raise PermanentError(f"unknown frame kind {kind}")
    except PermanentError as exc:
        return PERMANENT, json.dumps({"message": str(exc)}).encode()
    except Exception as exc:  # retryable, as unknown failures are (ingest.errors)
        retry_after_s = exc.retry_after_s if isinstance(exc, RetryableError) else 1.0
        if not isinstance(exc, RetryableError):
            log.exception("worker hand-off failed")
        detail = {
            "message": str(exc),
            "retry_after_s": retry_after_s,
            "overloaded": isinstance(exc, Overloaded),
        }
        return RETRY, json.dumps(detail).encode()
    room = records.has_room()
    body = {"refused": {str(i): reason for i, reason in refused.items()}, "room": room}
    return OK, json.dumps(body).encode()
