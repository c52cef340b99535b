"""API-key authentication shared by every HTTP and gRPC surface.

Clients send ``Authorization: Basic base64(public_key:secret_key)`` (Langfuse public API,
docs/reference/langfuse.md §1.1); over gRPC the same value travels as the ``authorization`` metadata
key. A ``KeyStore`` turns a key pair into the ``Project`` it belongs to. Secrets are stored only as
salted SHA-256 digests and compared in constant time; they are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "AsyncKeyStore",
    "KeyStore",
    "Project",
    "StaticKeyStore",
    "Unauthenticated",
    "authenticate",
    "authenticate_async",
    "hash_secret",
    "parse_basic_authorization",
    "verify_secret",
]


@dataclass(frozen=True, slots=True)
class Project:
    """The project a request acts for; every read and write is scoped to ``id``."""

    id: str
    name: str = ""


class Unauthenticated(Exception):
    """Missing or invalid credentials. The message is safe to return (it never holds a secret)."""


class KeyStore(Protocol):
    """Looks up the project of a key pair."""

    def verify(self, public_key: str, secret_key: str) -> Project | None:
        """Return the key's project, or None when the pair is unknown or the secret is wrong."""
        ...


@runtime_checkable
class AsyncKeyStore(KeyStore, Protocol):
    """A ``KeyStore`` whose lookups may need I/O (``storage.postgres.PostgresKeyStore``).

    ``verify_async`` is what ``authenticate_async`` awaits; ``verify`` stays for synchronous
    callers and may answer from a cache only.
    """

    async def verify_async(self, public_key: str, secret_key: str) -> Project | None:
        """Like ``verify``, without blocking the event loop."""
        ...


def parse_basic_authorization(value: str | None) -> tuple[str, str]:
    """Split ``Basic base64(public:secret)`` into ``(public, secret)``.

    Raises:
        Unauthenticated: header missing, not Basic, not base64, or without ``:``.
    """
    if not value:
        raise Unauthenticated("missing Authorization header (Basic base64(public_key:secret_key))")
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthenticated("Authorization must use the Basic scheme")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("Authorization header is not valid base64") from None
    public_key, sep, secret_key = decoded.partition(":")
    if not sep or not public_key or not secret_key:
        raise Unauthenticated("Authorization must carry public_key:secret_key")
    return public_key, secret_key


def authenticate(store: KeyStore, authorization: str | None) -> Project:
    """Resolve an ``Authorization`` header to its project.

    Raises:
        Unauthenticated: the header is malformed or the key pair is not valid.
    """
    public_key, secret_key = parse_basic_authorization(authorization)
    project = store.verify(public_key, secret_key)
    if project is None:
        raise Unauthenticated("invalid API key pair")
    return project


async def authenticate_async(store: KeyStore, authorization: str | None) -> Project:
    """``authenticate`` for code on the event loop: awaits ``verify_async`` when the store has
    it (``AsyncKeyStore``), else calls ``verify``.

    Raises:
        Unauthenticated: the header is malformed or the key pair is not valid.
        RetryableError: the store's backend is unavailable (answer 503, the client retries).
    """
    public_key, secret_key = parse_basic_authorization(authorization)
    # A plain attribute lookup: ``isinstance`` against the runtime-checkable protocol walks
    # the protocol's members on every call (tens of microseconds per request on Python 3.11).
    verify_async = getattr(store, "verify_async", None)
    project: Project | None
    if verify_async is not None:
        project = await verify_async(public_key, secret_key)
    else:
        project = store.verify(public_key, secret_key)
    if project is None:
        raise Unauthenticated("invalid API key pair")
    return project


def hash_secret(secret_key: str, salt: bytes | None = None) -> str:
    """Return ``"sha256$<salt hex>$<digest hex>"`` for a secret key.

    A fast salted hash is enough because keys are 32+ random bytes (no dictionary to attack),
    and it lets every request be verified without a slow KDF.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.sha256(salt + secret_key.encode("utf-8")).hexdigest()
    return f"sha256${salt.hex()}${digest}"


def verify_secret(secret_key: str, stored_hash: str) -> bool:
    """Constant-time check of ``secret_key`` against a ``hash_secret`` value."""
    try:
        algorithm, salt_hex, digest_hex = stored_hash.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if algorithm != "sha256":
        return False
    candidate = hashlib.sha256(salt + secret_key.encode("utf-8")).hexdigest()
    return hmac.compare_digest(candidate, digest_hex)


@dataclass(frozen=True, slots=True)
class _Key:
    public_key: str
    secret_hash: str
    project: Project


class StaticKeyStore:
    """A fixed, in-memory set of keys, for code that mounts the API routes with keys of its
    own (the route tests). No otelfuse role uses it: every role authenticates against
    PostgreSQL (``storage.postgres.keystore.PostgresKeyStore``)."""

    def __init__(self, keys: list[tuple[str, str, Project]]) -> None:
        """``keys``: ``(public_key, secret_hash, project)`` triples; hashes from ``hash_secret``."""
        self._keys = {pk: _Key(pk, secret_hash, project) for pk, secret_hash, project in keys}

    def verify(self, public_key: str, secret_key: str) -> Project | None:
        key = self._keys.get(public_key)
        if key is None or not verify_secret(secret_key, key.secret_hash):
            return None
        return key.project
