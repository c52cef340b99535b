"""Test doubles for the Protocols at the components' boundaries, each defined once.

In the spirit of the OpenTelemetry Collector's ``consumertest`` package (``Sink`` records what it
consumed, ``NewErr`` fails every call): tiny, no behaviour beyond recording or failing.

- ``FailingClient``: a ``storage.clickhouse.client.Client`` whose every call raises one error.
- ``DelegatingClient``: a ``Client`` over a real client, declaring its own ``insert_formats``;
  subclass it to intercept calls.
- ``RecordingSink``: an ``ingest.sinks.RecordSink`` and ``ScoreSink`` that records, or fails.
- ``RecordingStep``: a process step (``processors.pipeline.Process``, the consumer's step) that
  records each batch's ids, or fails.
- ``ManualClock``: a monotonic clock the test moves by hand.
- ``PricesFrom``: a ``processors.pricing.sources.PriceSource`` answering from a function.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from processors.pricing.sources import MatchedPrice, PriceQuery
from storage.clickhouse.client import NATIVE, PROTOBUF, Client, ProtobufInsert
from storage.clickhouse.prepared import PreparedInsert, Starting
from storage.errors import PermanentError
from storage.records import ObservationRecord, ScoreRecord


class FailingClient:
    """A ClickHouse ``Client`` whose every call (but ``close``) raises ``error``."""

    insert_formats = frozenset({NATIVE})
    merge_tree_settings: Mapping[str, int] = MappingProxyType({})

    def __init__(self, error: Exception) -> None:
        self.error = error

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        raise self.error

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        raise self.error

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        raise self.error

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        raise self.error

    def prepare_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> PreparedInsert:
        raise self.error

    def prepare_protobuf(self, insert: ProtobufInsert) -> PreparedInsert:
        raise self.error

    def busy(self) -> bool:
        return False

    def close(self) -> None:
        pass


class DelegatingClient:
    """A ClickHouse ``Client`` that passes every call to ``client``, with ``insert_formats``
    (default: the client's). ``prepare_columns`` runs this object's ``insert_columns`` and
    ``prepare_protobuf`` needs ``PROTOBUF`` in ``insert_formats``, so an override of
    ``insert_rows``/``insert_columns`` sees every insert. ``close`` leaves ``client`` open."""

    def __init__(self, client: Client, insert_formats: frozenset[str] | None = None) -> None:
        self.client = client
        self.insert_formats = client.insert_formats if insert_formats is None else insert_formats
        self.merge_tree_settings = client.merge_tree_settings

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.client.command(sql, params)

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.client.select(sql, params)

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        self.client.insert_rows(table, columns, rows)

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        self.client.insert_columns(table, columns, data)

    def prepare_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> PreparedInsert:
        def run(starting: Starting) -> None:
            if starting is not None:
                starting()
            self.insert_columns(table, columns, data)

        return PreparedInsert(run)

    def prepare_protobuf(self, insert: ProtobufInsert) -> PreparedInsert:
        if PROTOBUF not in self.insert_formats:
            raise PermanentError("this client does not insert Protobuf")
        return self.client.prepare_protobuf(insert)

    def busy(self) -> bool:
        return self.client.busy()

    def close(self) -> None:
        pass


class RecordingSink:
    """A record sink and a score sink that record what they got, or fail with ``error``;
    ``room`` is what ``has_room`` answers."""

    def __init__(self, error: Exception | None = None, *, room: bool = True) -> None:
        self.error = error
        self.room = room
        self.records: list[ObservationRecord] = []
        self.scores: list[ScoreRecord] = []

    def has_room(self, records: int = 1) -> bool:
        return self.room

    async def submit(self, records: Sequence[ObservationRecord]) -> dict[int, str]:
        if self.error is not None:
            raise self.error
        self.records.extend(records)
        return {}

    async def submit_scores(self, records: Sequence[ScoreRecord]) -> dict[int, str]:
        if self.error is not None:
            raise self.error
        self.scores.extend(records)
        return {}


def _never(batch: Sequence[ObservationRecord], call: int) -> BaseException | None:
    return None


def raising(error: BaseException) -> Callable[[Sequence[ObservationRecord], int], BaseException]:
    """A ``RecordingStep.fail`` that fails every call with ``error``."""
    return lambda batch, call: error


@dataclass
class RecordingStep:
    """A process step that records the ids of each batch it wrote (``written``, ``ids``) and of
    every call with its monotonic time (``calls``). ``fail(batch, call_number)`` returns an error
    to raise instead of writing, or None; ``gate``, when given, holds each call until set."""

    fail: Callable[[Sequence[ObservationRecord], int], BaseException | None] = _never
    gate: threading.Event | None = None
    calls: list[tuple[float, list[str]]] = field(default_factory=list)
    written: list[list[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, batch: Sequence[ObservationRecord]) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        ids = [r.id for r in batch]
        with self.lock:
            self.calls.append((time.monotonic(), ids))
            error = self.fail(batch, len(self.calls))
            if error is not None:
                raise error
            self.written.append(ids)

    @property
    def ids(self) -> list[str]:
        with self.lock:
            return [i for batch in self.written for i in batch]


class ManualClock:
    """A monotonic clock (``() -> float`` seconds) the test moves by setting ``now``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


PriceLookup = Callable[
    [str, str, Mapping[str, int], Mapping[str, object], Mapping[str, object] | None],
    MatchedPrice | None,
]
"""``(project_id, model, usage, model_parameters, metadata) -> MatchedPrice | None``."""


class PricesFrom:
    """A ``PriceSource`` whose ``lookup`` is ``answer`` (the time is ignored)."""

    def __init__(self, answer: PriceLookup) -> None:
        self.answer = answer

    def lookup(self, query: PriceQuery) -> MatchedPrice | None:
        q = query
        return self.answer(q.project_id, q.model, q.usage, q.model_parameters, q.metadata)
