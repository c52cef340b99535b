"""A TTL-bounded LRU of answers per key, filled one batch of missing keys at a time.

Used for the lookups the enrichment worker makes against PostgreSQL (model prices, prompt
ids): one query per batch for the keys not cached, answers (including "none") reused for
``ttl_s``, and while PostgreSQL is unreachable expired answers are served rather than failing,
as long as every missing key has one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

__all__ = ["BatchTTLCache"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchTTLCache(Generic[K, V]):
    """``get_many(keys)`` with per-key TTL and LRU eviction; thread-safe.

    Args:
        load: answers for a list of missing keys (keys it leaves out get ``default``); may
            raise (e.g. ``RetryableError`` when PostgreSQL is down).
        default: the answer for a key ``load`` did not return.
        name: what is cached, for the log line when expired answers are served.
        ttl_s: seconds an answer is reused.
        max_entries: cached keys; least recently used dropped beyond it.
        clock: monotonic seconds (tests).
    """

    def __init__(
        self,
        load: Callable[[list[K]], Mapping[K, V]],
        *,
        default: V,
        name: str,
        ttl_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._default = default
        self._name = name
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """Answers for ``keys``, loading the uncached ones with one ``load`` call.

        Raises:
            whatever ``load`` raises, when some missing key has no expired answer to fall
            back on.
        """
        now = self._clock()
        result: dict[K, V] = {}
        missing: list[K] = []
        stale: dict[K, V] = {}
        with self._lock:
            for key in dict.fromkeys(keys):
                cached = self._entries.get(key)
                if cached is not None and now - cached[0] <= self._ttl:
                    result[key] = cached[1]
                    self._entries.move_to_end(key)
                else:
                    missing.append(key)
                    if cached is not None:
                        stale[key] = cached[1]
        if not missing:
            return result
        try:
            found = self._load(missing)
        except Exception as exc:
            if len(stale) < len(missing):
                raise
            log.warning("%s lookup failed (%s); using expired cache entries", self._name, exc)
            return {**result, **stale}
        with self._lock:
            for key in missing:
                value = found.get(key, self._default)
                self._entries[key] = (now, value)
                self._entries.move_to_end(key)
                result[key] = value
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return result
