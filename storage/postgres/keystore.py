"""``PostgresKeyStore``: API-key authentication from PostgreSQL, answered from memory.

Every request is checked in memory with ``storage.auth.verify_secret`` (constant time) against
``public key -> (secret hash, project)`` entries; no request waits for PostgreSQL unless its key
was created after the last refresh. Two sources of entries:

- a snapshot of all non-revoked keys, loaded at ``start`` and reloaded by a background task
  every ``ttl_s / 2`` (one query; the same round writes the batched ``last_used_at``);
- single-key lookups for keys missing from the snapshot (keys created since), fetched once per
  ``ttl_s`` per public key, shared by concurrent requests; "not found" is cached as well.

Revocation: ``otelfuse keys revoke`` (``ApiKeyRepository.revoke``) sends a PostgreSQL
``NOTIFY`` with the public key; a key store given ``revocations`` (``PostgresRuntime`` gives it
a pool of one connection of its own) listens (``ApiKeyRepository.listen_revoked``) and
refuses the key as soon as the notification arrives, in every process
(the all-in-one's owner and worker processes, every scale-out receiver). The listening
connection is re-opened after a loss, and the snapshot reloaded then, so a revocation missed
meanwhile applies too.

Freshness rule, the bound when no notification arrives (the listening connection is down, a
key revoked by hand in SQL): an answer is used only while younger than ``ttl_s`` (default
30 s, ``OTELFUSE_AUTH_CACHE_TTL_S``), so a revoked key stops working at most ``ttl_s`` later
(typically ``ttl_s / 2``), and a new key works at once through ``verify_async`` (or after the
next refresh through ``verify``).

- ``verify_async`` (what every otelfuse surface awaits through
  ``storage.auth.authenticate_async``): snapshot or cached lookup; a key unknown to both is
  looked up.
- ``verify`` (the synchronous ``KeyStore`` protocol, for callers that cannot await): answers from
  memory only. A key missing from a fresh snapshot gets None (401) and is looked up in the
  background, so a key created since the last refresh works on the client's next attempt.
- PostgreSQL unreachable: answers stay valid until ``ttl_s`` old; after that both methods
  raise ``RetryableError`` (503, clients retry) — never a revoked key accepted past the TTL.

Nothing here logs a secret, a hash or a public key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from storage.auth import Project, verify_secret
from storage.errors import RetryableError
from storage.postgres.api_keys import ActiveKey, ApiKeyRepository, plausible_public_key

__all__ = ["DEFAULT_AUTH_CACHE_TTL_S", "PostgresKeyStore"]

log = logging.getLogger(__name__)

DEFAULT_AUTH_CACHE_TTL_S = 30.0
DEFAULT_MAX_LOOKUPS = 100_000
LISTEN_START_TIMEOUT_S = 5.0
"""Seconds ``start`` waits for the revocation listener before going on without it."""
LISTEN_RETRY_S = 1.0
"""Seconds between a lost revocation listener and the next attempt."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """An answer about one public key as of ``fetched_at``; ``project`` None: not active."""

    project: Project | None
    secret_hash: str
    fetched_at: float


def _entry(key: ActiveKey | None, fetched_at: float) -> _Entry:
    if key is None:
        return _Entry(None, "", fetched_at)
    return _Entry(Project(key.project_id, key.project_name), key.secret_hash, fetched_at)


class PostgresKeyStore:
    """``storage.auth.AsyncKeyStore`` over the ``api_keys`` table (see module docstring).

    Args:
        keys: the repository (its pool belongs to the loop ``start`` runs on).
        ttl_s: the longest time an answer is used (the revocation delay bound).
        max_lookups: single-key answers kept (least recently used dropped beyond it).
        clock: monotonic seconds (tests).
        revocations: the repository whose connection listens for revocations, on a pool of
            its own (the listener holds its connection); None: only the TTL bounds them.
    """

    def __init__(
        self,
        keys: ApiKeyRepository,
        *,
        ttl_s: float = DEFAULT_AUTH_CACHE_TTL_S,
        max_lookups: int = DEFAULT_MAX_LOOKUPS,
        clock: Callable[[], float] = time.monotonic,
        revocations: ApiKeyRepository | None = None,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._keys = keys
        self._ttl = ttl_s
        self._max = max_lookups
        self._clock = clock
        self._snapshot: dict[str, ActiveKey] = {}
        self._snapshot_at = float("-inf")
        self._lookups: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._used: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._revocations = revocations
        self._listener: asyncio.Task[None] | None = None

    @property
    def ttl_s(self) -> float:
        return self._ttl

    @property
    def active_keys(self) -> int:
        """Non-revoked keys in the last snapshot."""
        return len(self._snapshot)

    async def start(self) -> None:
        """Listen for revocations, load the snapshot, then keep it fresh in the background.

        Raises:
            RetryableError / PermanentError: the first snapshot cannot be read.
        """
        self._loop = asyncio.get_running_loop()
        if self._listener is None and self._revocations is not None:
            listening = asyncio.Event()
            self._listener = asyncio.create_task(
                self._listen_forever(self._revocations, listening), name="otelfuse-keys-revoked"
            )
            with contextlib.suppress(TimeoutError):  # else: the TTL bound until it listens
                await asyncio.wait_for(listening.wait(), LISTEN_START_TIMEOUT_S)
        await self.refresh_once()
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="otelfuse-keys")

    async def stop(self) -> None:
        """Stop background work and write the pending ``last_used_at`` updates."""
        for task in (self._refresher, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._refresher = self._listener = None
        for task in list(self._inflight.values()):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._flush_used()

    # -- verification -------------------------------------------------------------------------

    def verify(self, public_key: str, secret_key: str) -> Project | None:
        """Synchronous check from memory (see module docstring).

        Raises:
            RetryableError: nothing fresh is known (PostgreSQL unreachable for ``ttl_s``).
        """
        if not plausible_public_key(public_key):
            return None
        entry = self._answer(public_key)
        if entry is None:
            raise RetryableError("API keys unavailable, retry later", retry_after_s=1.0)
        if entry.project is None and public_key not in self._lookups:
            loop = self._loop
            if loop is not None and not loop.is_closed():  # a key created since the snapshot?
                loop.call_soon_threadsafe(self._lookup_soon, public_key)
        return self._check(public_key, entry, secret_key)

    async def verify_async(self, public_key: str, secret_key: str) -> Project | None:
        """The key's project, or None when unknown, revoked or the secret is wrong.

        Raises:
            RetryableError: PostgreSQL unreachable and nothing fresh is known.
        """
        if not plausible_public_key(public_key):
            return None
        entry = self._answer(public_key)
        if entry is None or (entry.project is None and public_key not in self._lookups):
            await asyncio.shield(self._lookup_soon(public_key))
            entry = self._lookups.get(public_key)
            if entry is None:
                return None
        return self._check(public_key, entry, secret_key)

    def _answer(self, public_key: str) -> _Entry | None:
        """The newest answer younger than the TTL, or None when nothing fresh is known."""
        now = self._clock()
        looked_up = self._lookups.get(public_key)
        if (
            looked_up is not None
            and looked_up.fetched_at >= self._snapshot_at
            and now - looked_up.fetched_at <= self._ttl
        ):
            self._lookups.move_to_end(public_key)
            return looked_up
        if now - self._snapshot_at <= self._ttl:
            return _entry(self._snapshot.get(public_key), self._snapshot_at)
        return None

    def _check(self, public_key: str, entry: _Entry, secret_key: str) -> Project | None:
        if entry.project is None or not verify_secret(secret_key, entry.secret_hash):
            return None
        self._used.add(public_key)
        return entry.project

    # -- single-key lookups -------------------------------------------------------------------

    def _lookup_soon(self, public_key: str) -> asyncio.Task[None]:
        """The running lookup of ``public_key``, started if none runs (single flight).

        The task is not tied to the request that started it: a client that disconnects does
        not cancel the lookup other requests wait for.
        """
        task = self._inflight.get(public_key)
        if task is None:
            task = asyncio.ensure_future(self._lookup(public_key))
            self._inflight[public_key] = task
            task.add_done_callback(lambda done: self._finished(public_key, done))
        return task

    def _finished(self, public_key: str, task: asyncio.Task[None]) -> None:
        if self._inflight.get(public_key) is task:
            del self._inflight[public_key]
        if not task.cancelled() and task.exception() is not None:
            log.warning("API key lookup failed: %s", type(task.exception()).__name__)

    async def _lookup(self, public_key: str) -> None:
        started = self._clock()
        found = await self._keys.find_active([public_key])
        newer = self._lookups.get(public_key)
        if newer is not None and newer.fetched_at > started:
            return  # a revocation arrived while this lookup ran: keep it
        self._keep_lookup(public_key, _entry(found.get(public_key), started))

    def _keep_lookup(self, public_key: str, entry: _Entry) -> None:
        """Keep ``entry`` as the newest single-key answer (LRU of ``max_lookups``)."""
        self._lookups[public_key] = entry
        self._lookups.move_to_end(public_key)
        while len(self._lookups) > self._max:
            self._lookups.popitem(last=False)

    # -- revocations ----------------------------------------------------------------------------

    def revoked(self, public_key: str) -> None:
        """Refuse ``public_key`` from now on (a revocation notification): it leaves the
        snapshot, and a "not active" answer newer than any refresh or lookup in flight is kept
        for it (``_answer`` prefers it, ``refresh_once`` keeps it, ``_lookup`` does not
        overwrite it)."""
        self._snapshot.pop(public_key, None)
        self._keep_lookup(public_key, _Entry(None, "", self._clock()))

    async def _listen_forever(self, keys: ApiKeyRepository, listening: asyncio.Event) -> None:
        """Listen for revocations (``listening`` is set once the first ``LISTEN`` is in
        place); after a lost connection or a failure listen again after ``LISTEN_RETRY_S``
        and then reload the snapshot, which holds any revocation missed meanwhile."""
        resync = False
        while True:
            ready = asyncio.Event()
            listener = asyncio.create_task(keys.listen_revoked(self.revoked, ready))
            waiter = asyncio.create_task(ready.wait())
            try:
                await asyncio.wait((listener, waiter), return_when=asyncio.FIRST_COMPLETED)
                if ready.is_set():
                    listening.set()
                    if resync:
                        await self.refresh_once()
                await listener  # returns when the connection is lost
                log.warning("API key revocation listener lost its connection")
            except Exception as exc:  # logged without any key material
                log.warning("API key revocation listener failed: %s", type(exc).__name__)
            finally:
                waiter.cancel()
                listener.cancel()
                with contextlib.suppress(BaseException):
                    await listener  # its connection back to the pool
            resync = True
            await asyncio.sleep(LISTEN_RETRY_S)

    # -- background refresh -------------------------------------------------------------------

    async def refresh_once(self) -> None:
        """Reload the snapshot, drop superseded lookups, write ``last_used_at``."""
        started = self._clock()
        self._snapshot = await self._keys.all_active()
        self._snapshot_at = started
        for public_key in [k for k, e in self._lookups.items() if e.fetched_at < started]:
            del self._lookups[public_key]
        await self._flush_used()

    async def _flush_used(self) -> None:
        used, self._used = self._used, set()
        if used:
            try:
                await self._keys.touch(sorted(used))
            except Exception:
                self._used |= used
                raise

    async def _refresh_forever(self) -> None:
        interval = self._ttl / 2
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh_once()
            except Exception as exc:  # logged without any key material
                log.warning("API key refresh failed: %s", type(exc).__name__)
