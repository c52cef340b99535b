"""Which traces may already be stored: a Bloom filter of the ``(project_id, id)`` keys of
``traces``, for a process that is the ONLY writer of the table (embedded ClickHouse).

``ClickHouseWriter`` reads the stored state of every trace of a batch that misses its LRU (one
``SELECT … FROM traces FINAL PREWHERE (project_id, id) IN …``). Most traces of a batch are new,
so that read usually finds nothing, yet its IN over random ids touches most granules of
``traces`` and its cost grows with the table. ``TraceKeyFilter`` tells which keys were never
written, so the writer reads only the others. A Bloom filter (Bloom, "Space/time trade-offs in
hash coding with allowable errors", CACM 13(7), 1970; https://en.wikipedia.org/wiki/Bloom_filter)
answers "maybe" for every key added and, with probability about ``false_positive_rate``, for a
key that was not: a false "maybe" costs a read, as before the filter, and a false "never" cannot
happen. The filter uses ``rbloom`` (https://pypi.org/project/rbloom/, a Bloom filter written in
Rust, with ``set``'s API).

The filter covers every key of the table:

- ``start`` loads the stored keys in a helper thread, page by page in sort-key order (about 64k
  keys a query, each query a short hold of the embedded engine), as 64-bit hashes computed by
  ClickHouse (``cityHash64``; ``trace_key_hash`` computes the same in Python). Until the last
  page is in, ``before_write`` answers "maybe" for every key (the writer reads as without a
  filter). Rows are never moved between keys, and deletions only remove keys, so a key stored
  before its page was read is in that page;
- ``before_write`` adds every key the writer is about to write, BEFORE the insert, also while
  the load runs (a key inserted behind the loader's position is added by the writer, one
  inserted ahead of it is found by the loader). An insert that then fails leaves a key that was
  never written: a false "maybe", harmless.

This holds only while this process is the only writer of ``traces``: embedded ClickHouse (chdb
holds the data folder's lock), where the all-in-one's receivers and its ``OTELFUSE_WORKERS``
hand every record to the one pipeline and its writer, and the query API only deletes traces.
With a ClickHouse server (scale-out processors writing the same table, an archive replay) the
writer runs without a filter.

Size: the first stage is sized at load for twice the table's row count (at least
``MIN_CAPACITY`` keys, within ``max_bytes``) at ``false_positive_rate / 2``: about 3.2 bytes a
key at the default 1e-5 (``-ln(p) / ln(2)^2`` bits a key). When a stage is full, a stage twice as
large with half the false-positive rate is chained ("Scalable Bloom Filters", Almeida, Baquero,
Preguiça, Hutchison, Information Processing Letters 101(6), 2007), so the rates sum to at most
``false_positive_rate``; near ``max_bytes`` the stage is what the remaining bytes hold. When
not even half the last stage fits, the filter switches itself off for good (memory freed,
every batch reads as without a filter); the default ``TRACE_FILTER_BYTES`` holds about 20
million traces (docs/operations.md "Limits").
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence

from clickhouse_cityhash.cityhash import CityHash64  # type: ignore[import-untyped]
from rbloom import Bloom
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from storage.clickhouse.client import Client
from storage.clickhouse.traces import TraceKey
from storage.errors import PermanentError, RetryableError

__all__ = [
    "FALSE_POSITIVE_RATE",
    "MIN_CAPACITY",
    "TRACE_FILTER_BYTES",
    "TraceKeyFilter",
    "trace_key_hash",
]

log = logging.getLogger(__name__)

TRACE_FILTER_BYTES = 64 * 1024 * 1024
"""Default bound of the filter's memory: about 20 million keys at ~3.2 bytes each."""

FALSE_POSITIVE_RATE = 1e-5
"""Default bound of the share of never-written keys answered "maybe": at most one batch of
5,000 new traces in twenty then asks ClickHouse for one or two of them."""

MIN_CAPACITY = 1_000_000
"""Fewest keys the first stage is sized for (about 3.2 MB)."""

LOAD_PAGE_ROWS = 65_536
"""Keys per load query (~20 ms of the embedded engine on a laptop core)."""

LOAD_ATTEMPTS = 5
"""Failed load queries in a row after which the load gives up (the filter stays off)."""

_LN2_SQUARED = math.log(2) ** 2

_INT_BYTES = 40
"""A 64-bit hash in a Python list: the ``int`` object and its pointer, roughly, in bytes."""

_KEY_HASH_SQL = "cityHash64(concat(project_id, '\\0', id))"
"""``trace_key_hash`` in ClickHouse SQL, over the columns of ``traces``."""


def trace_key_hash(key: TraceKey) -> int:
    """A 64-bit hash of ``(project_id, trace_id)``: CityHash64 (v1.0.2, as ClickHouse's
    ``cityHash64``; https://pypi.org/project/clickhouse-cityhash/) of the UTF-8 bytes of
    ``project_id + "\\0" + trace_id``. Two keys that hash equal are a false "maybe", never a
    miss."""
    return int(CityHash64(f"{key[0]}\0{key[1]}".encode()))


def _capacity(bits: int, rate: float) -> int:
    """Most keys a Bloom filter of at most ``bits`` bits holds at false-positive ``rate``:
    ``rbloom`` allocates ``m = -n ln(p) / ln(2)^2`` bits for ``n`` keys (the optimal size,
    https://en.wikipedia.org/wiki/Bloom_filter "Optimal number of hash functions"), rounded up
    to whole bytes."""
    return max(0, math.floor((bits - 8) * _LN2_SQUARED / -math.log(rate)))


class _Stages:
    """A scalable Bloom filter (Almeida et al. 2007) of ints: stages of doubling capacity and
    halving false-positive rate, within ``max_bytes``."""

    def __init__(self, capacity: int, rate: float, max_bytes: int) -> None:
        self._stages: list[Bloom] = []
        self._room = 0  # keys the newest stage takes before the next is chained
        self._next = (capacity, rate)
        self._max_bits = max_bytes * 8
        self.bits = 0

    def add(self, hashes: Sequence[int]) -> bool:
        """Add ``hashes``; False (nothing more can be added) when a new stage would pass
        ``max_bytes``."""
        done = 0
        while done < len(hashes):
            if not self._room and not self._grow():
                return False
            part = hashes[done : done + self._room]
            self._stages[-1].update(part)
            self._room -= len(part)
            done += len(part)
        return True

    def __contains__(self, value: int) -> bool:
        return any(value in stage for stage in self._stages)

    def _grow(self) -> bool:
        """Chain the next stage: twice the last one, or what the remaining bytes hold if that
        is at least half the last one (else False: full)."""
        capacity, rate = self._next
        fits = _capacity(self._max_bits - self.bits, rate)
        if fits < capacity:
            if not self._stages or fits < capacity // 4:
                return False
            capacity = fits
        stage = Bloom(capacity, rate)
        self._stages.append(stage)
        self.bits += stage.size_in_bits
        self._room = capacity
        self._next = (capacity * 2, rate / 2)
        return True


class TraceKeyFilter:
    """The keys of ``database.traces`` that may be stored, for the sole writer of the table
    (module docstring). Thread-safe.

    Args:
        client: the embedded ClickHouse client.
        database: database holding ``traces``.
        max_bytes: bound of the filter's memory (``TRACE_FILTER_BYTES``); over it the filter
            switches itself off.
        false_positive_rate: bound of the share of never-written keys answered "maybe".
        min_capacity: fewest keys the first stage is sized for.
        page_rows: keys per load query.
    """

    def __init__(
        self,
        client: Client,
        database: str = "otelfuse",
        *,
        max_bytes: int = TRACE_FILTER_BYTES,
        false_positive_rate: float = FALSE_POSITIVE_RATE,
        min_capacity: int = MIN_CAPACITY,
        page_rows: int = LOAD_PAGE_ROWS,
    ) -> None:
        self._client = client
        self._db = database
        self._max_bytes = max_bytes
        self._rate = false_positive_rate
        self._min_capacity = max(1, min_capacity)
        self._page_rows = max(1, page_rows)
        self._lock = threading.Lock()
        self._stages: _Stages | None = None  # None until sized (then while on)
        self._early: list[int] | None = []  # hashes written before the stages were sized
        self._loaded = False
        self._stop = threading.Event()
        self._done = threading.Event()  # the load finished, gave up or was stopped
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        """True once the stored keys are loaded and while the filter is on: only then does
        ``before_write`` answer "never written"."""
        return self._loaded and self._early is not None

    @property
    def nbytes(self) -> int:
        """Bytes the filter's bits take (0 before the load sized it and once it is off)."""
        stages = self._stages
        return stages.bits // 8 if stages is not None else 0

    def start(self) -> None:
        """Start loading the stored keys in a helper thread (once; later calls do nothing)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._load, name="otelfuse-trace-filter", daemon=True
            )
        self._thread.start()

    def wait_loaded(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the load to end; return ``ready``."""
        self._done.wait(timeout)
        return self.ready

    def close(self) -> None:
        """Stop the load (the filter stays as it is; waits for the running query)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join()

    def before_write(self, keys: Sequence[TraceKey]) -> list[TraceKey]:
        """The ``keys`` that may be stored (every key until the load is done or while the
        filter is off); then every key is recorded as stored, because the caller writes them
        next. Keys it leaves out were never written: new traces, nothing to read."""
        hashes = [trace_key_hash(key) for key in keys]
        with self._lock:
            stages, early = self._stages, self._early
            if early is None:  # off
                return list(keys)
            if stages is None:
                early.extend(hashes)
                if len(early) * _INT_BYTES > self._max_bytes:
                    self._switch_off("more keys written before the load than fit")
                return list(keys)
            maybe = (
                [key for key, h in zip(keys, hashes, strict=True) if h in stages]
                if self._loaded
                else list(keys)
            )
            if not stages.add(hashes):
                self._switch_off("over its memory bound")
                return list(keys)
            return maybe

    def _switch_off(self, why: str) -> None:
        """Free the filter and answer "maybe" from now on; caller holds the lock."""
        if self._early is not None:
            log.warning(
                "trace filter off (%s, %d MiB): every batch reads its traces' stored state",
                why,
                self._max_bytes // (1024 * 1024),
            )
        self._stages = None
        self._early = None

    def _load(self) -> None:
        """The helper thread: ``_load_all``; a failure switches the filter off."""
        try:
            self._load_all()
        except (RetryableError, PermanentError) as exc:
            log.warning("trace filter: load failed (%s)", exc)
            with self._lock:
                self._switch_off("its load failed")
        finally:
            self._done.set()

    def _pause(self, seconds: float) -> None:
        """Sleep between load attempts; ``close`` cuts it short."""
        self._stop.wait(seconds)

    def _load_all(self) -> None:
        """Size the filter, then add every stored key page by page (a transient failure of a
        page is retried after 2, 4, 8... s, tenacity; ``LOAD_ATTEMPTS`` in a row raise it).
        Returns early when stopped or switched off."""
        started = time.monotonic()
        after: tuple[str, str] | None = None
        done = False
        retrying = Retrying(
            retry=retry_if_exception_type(RetryableError),
            wait=wait_exponential(multiplier=2.0, max=30.0),
            stop=stop_after_attempt(LOAD_ATTEMPTS) | stop_when_event_set(self._stop),
            before_sleep=_log_retry,
            sleep=self._pause,
            reraise=True,
        )
        while not done:
            if self._stop.is_set():
                return
            try:
                for attempt in retrying:
                    with attempt:
                        if self._stages is None and not self._size():
                            return
                        after, done = self._load_page(after)
            except RetryableError:
                if self._stop.is_set():
                    return
                raise
        with self._lock:
            if self._early is None:
                return
            self._loaded = True
        log.info(
            "trace filter loaded in %.1f s: %.1f MiB",
            time.monotonic() - started,
            self.nbytes / (1024 * 1024),
        )

    def _size(self) -> bool:
        """Create the first stage for twice the table's rows (within ``max_bytes``) and move
        the hashes written so far into it; False when the filter is off."""
        rows = self._client.select(f"SELECT count() AS n FROM {self._db}.traces")
        stored = int(rows[0]["n"])
        rate = self._rate / 2
        capacity = max(self._min_capacity, 2 * stored)
        fits = _capacity(self._max_bytes * 8, rate)
        with self._lock:
            if self._early is None:
                return False
            if fits <= stored + len(self._early):
                self._switch_off(f"{stored} stored traces")
                return False
            self._stages = _Stages(min(capacity, fits), rate, self._max_bytes)
            if not self._stages.add(self._early):
                self._switch_off("over its memory bound")
                return False
            self._early = []
            return True

    def _load_page(self, after: tuple[str, str] | None) -> tuple[tuple[str, str] | None, bool]:
        """Add the hashes of the next ``page_rows`` keys after ``after`` in sort-key order
        (every version of a row, deleted ones too: a superset); the last key read and whether
        the table has no more."""
        where = ""
        params: dict[str, object] = {}
        if after is not None:
            where = "WHERE project_id > {p:String} OR (project_id = {p:String} AND id > {i:String})"
            params = {"p": after[0], "i": after[1]}
        rows = self._client.select(
            "SELECT groupArray(h) AS hashes, max(k) AS last FROM"
            f" (SELECT {_KEY_HASH_SQL} AS h, (project_id, id) AS k FROM {self._db}.traces"
            f" {where} ORDER BY project_id, id LIMIT {self._page_rows})",
            params,
        )
        hashes = [int(h) for h in rows[0]["hashes"]]
        with self._lock:
            if self._stages is None:
                return after, True  # switched off meanwhile
            if not self._stages.add(hashes):
                self._switch_off("over its memory bound")
                return after, True
        last = rows[0]["last"]
        return (str(last[0]), str(last[1])), len(hashes) < self._page_rows


def _log_retry(state: RetryCallState) -> None:
    """tenacity's ``before_sleep`` hook of the load: log the failure it retries."""
    exc = state.outcome.exception() if state.outcome is not None else None
    log.info("trace filter: load failed (%s); retrying", exc)
