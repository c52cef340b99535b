"""``api_keys`` table: Langfuse-style key pairs (``pk-lf-...`` / ``sk-lf-...``) of a project.

Only ``storage.auth.hash_secret(secret)`` is stored, plus a short prefix of the secret for
listings (``display_secret_key``, e.g. ``sk-lf-AbCd...``). The secret itself exists only in
``CreatedKey.secret_key``, returned once by ``create``; its ``repr`` hides it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from storage.auth import hash_secret, verify_secret
from storage.errors import PermanentError
from storage.postgres.pool import PgPool, postgres_errors

__all__ = [
    "ActiveKey",
    "ApiKeyInfo",
    "ApiKeyRepository",
    "CreatedKey",
    "ProjectNotFound",
    "display_prefix",
    "plausible_public_key",
]

MAX_KEY_LENGTH = 256


class ProjectNotFound(PermanentError):
    """The project named for a new key does not exist."""


def plausible_public_key(public_key: str) -> bool:
    """Cheap pre-check before a lookup: bounded length, no NUL (PostgreSQL text refuses it)."""
    return 0 < len(public_key) <= MAX_KEY_LENGTH and "\x00" not in public_key


def display_prefix(secret_key: str) -> str:
    """The part of a secret shown in listings: ``sk-lf-`` plus 4 characters, never over a third.

    ``sk-lf-AbCd...`` reveals 24 of the 256 random bits of a generated secret.
    """
    shown = min(10, len(secret_key) // 3)
    return f"{secret_key[:shown]}..."


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A key as listed: never the secret or its hash."""

    id: str
    project_id: str
    public_key: str
    display_secret_key: str
    note: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key; ``secret_key`` is shown to the user once and never stored."""

    info: ApiKeyInfo
    secret_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """What authentication needs: the hash and the project of a non-revoked key."""

    public_key: str
    secret_hash: str = field(repr=False)
    project_id: str
    project_name: str


def _info(record: asyncpg.Record) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=record["id"],
        project_id=record["project_id"],
        public_key=record["public_key"],
        display_secret_key=record["display_secret_key"],
        note=record["note"],
        created_at=record["created_at"],
        last_used_at=record["last_used_at"],
        revoked_at=record["revoked_at"],
    )


_INFO_COLUMNS = (
    "id, project_id, public_key, display_secret_key, note, created_at, last_used_at, revoked_at"
)


class ApiKeyRepository:
    """Reads and writes ``api_keys``."""

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    async def create(self, project_id: str, note: str | None = None) -> CreatedKey:
        """Generate and store a new key pair for ``project_id``.

        Raises:
            ProjectNotFound: no such project.
        """
        public_key = f"pk-lf-{uuid.uuid4()}"
        secret_key = f"sk-lf-{secrets.token_urlsafe(32)}"
        info = await self._insert(project_id, public_key, secret_key, note)
        return CreatedKey(info, secret_key)

    async def _insert(
        self, project_id: str, public_key: str, secret_key: str, note: str | None
    ) -> ApiKeyInfo:
        with postgres_errors("creating an API key"):
            try:
                record = await self._pool.fetchrow(
                    "INSERT INTO api_keys (id, project_id, public_key, secret_hash,"
                    " display_secret_key, note) VALUES ($1, $2, $3, $4, $5, $6)"
                    f" RETURNING {_INFO_COLUMNS}",
                    uuid.uuid4().hex,
                    project_id,
                    public_key,
                    hash_secret(secret_key),
                    display_prefix(secret_key),
                    note,
                )
            except asyncpg.ForeignKeyViolationError:
                raise ProjectNotFound(f"project {project_id} does not exist") from None
        assert record is not None
        return _info(record)

    async def ensure(self, project_id: str, public_key: str, secret_key: str) -> str:
        """Make sure ``public_key`` exists for ``project_id`` (the ``OTELFUSE_INIT_PROJECT_*``
        key pair); an existing row is never changed or un-revoked.

        Returns:
            ``created``, ``exists``, ``revoked`` or ``secret-differs`` (stored hash kept).

        Raises:
            PermanentError: the public key belongs to another project.
        """
        with postgres_errors("ensuring an API key"):
            record = await self._pool.fetchrow(
                "SELECT project_id, secret_hash, revoked_at FROM api_keys WHERE public_key = $1",
                public_key,
            )
            if record is None:
                try:
                    await self._insert(project_id, public_key, secret_key, "OTELFUSE_INIT_PROJECT")
                    return "created"
                except asyncpg.UniqueViolationError:  # a concurrent start inserted it
                    return await self.ensure(project_id, public_key, secret_key)
        if record["project_id"] != project_id:
            raise PermanentError("the initial public key belongs to another project")
        if record["revoked_at"] is not None:
            return "revoked"
        if not verify_secret(secret_key, record["secret_hash"]):
            return "secret-differs"
        return "exists"

    async def list_for_project(self, project_id: str) -> list[ApiKeyInfo]:
        """The project's keys, revoked ones included, oldest first."""
        with postgres_errors("listing API keys"):
            records = await self._pool.fetch(
                f"SELECT {_INFO_COLUMNS} FROM api_keys WHERE project_id = $1"
                " ORDER BY created_at, id",
                project_id,
            )
        return [_info(r) for r in records]

    async def revoke(self, public_key: str) -> bool:
        """Revoke a key; False when there is no such (non-revoked) key."""
        if not plausible_public_key(public_key):
            return False
        with postgres_errors("revoking an API key"):
            status = await self._pool.execute(
                "UPDATE api_keys SET revoked_at = now()"
                " WHERE public_key = $1 AND revoked_at IS NULL",
                public_key,
            )
        return status.endswith(" 1")

    async def find_active(self, public_keys: Sequence[str]) -> dict[str, ActiveKey]:
        """The non-revoked keys among ``public_keys`` (one query), by public key."""
        wanted = [k for k in public_keys if plausible_public_key(k)]
        if not wanted:
            return {}
        with postgres_errors("reading API keys"):
            records = await self._pool.fetch(
                "SELECT k.public_key, k.secret_hash, k.project_id, p.name AS project_name"
                " FROM api_keys k JOIN projects p ON p.id = k.project_id"
                " WHERE k.public_key = ANY($1::text[]) AND k.revoked_at IS NULL",
                wanted,
            )
        return {
            r["public_key"]: ActiveKey(
                r["public_key"], r["secret_hash"], r["project_id"], r["project_name"]
            )
            for r in records
        }

    async def all_active(self) -> dict[str, ActiveKey]:
        """Every non-revoked key, by public key (the key store's snapshot)."""
        with postgres_errors("reading API keys"):
            records = await self._pool.fetch(
                "SELECT k.public_key, k.secret_hash, k.project_id, p.name AS project_name"
                " FROM api_keys k JOIN projects p ON p.id = k.project_id"
                " WHERE k.revoked_at IS NULL"
            )
        return {
            r["public_key"]: ActiveKey(
                r["public_key"], r["secret_hash"], r["project_id"], r["project_name"]
            )
            for r in records
        }

    async def touch(self, public_keys: Sequence[str]) -> None:
        """Set ``last_used_at`` of these keys to now (batched by the key store)."""
        if not public_keys:
            return
        with postgres_errors("updating last_used_at"):
            await self._pool.execute(
                "UPDATE api_keys SET last_used_at = now() WHERE public_key = ANY($1::text[])",
                list(public_keys),
            )
