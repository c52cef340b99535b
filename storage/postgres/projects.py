"""``projects`` table: the tenants that keys, models, prompts and observations belong to."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.errors import PermanentError
from storage.postgres.pool import PgPool, postgres_errors

__all__ = ["PROJECT_ID", "ProjectExists", "ProjectRepository", "ProjectRow"]

PROJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
"""Accepted project ids (the same CHECK is in the schema)."""


class ProjectExists(PermanentError):
    """A project with that id already exists."""


@dataclass(frozen=True, slots=True)
class ProjectRow:
    """One project."""

    id: str
    name: str
    created_at: datetime


def _row(record: asyncpg.Record) -> ProjectRow:
    return ProjectRow(record["id"], record["name"], record["created_at"])


class ProjectRepository:
    """Reads and writes ``projects``."""

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    async def create(self, name: str, project_id: str | None = None) -> ProjectRow:
        """Create a project; the id is generated (``proj-<12 hex>``) unless given.

        Raises:
            ValueError: the id or name is not acceptable.
            ProjectExists: the id is taken.
        """
        project_id = project_id or f"proj-{uuid.uuid4().hex[:12]}"
        if not PROJECT_ID.match(project_id):
            raise ValueError(
                f"project id {project_id!r} must be 1-128 characters of letters, digits, "
                "'_', '.', ':' or '-', starting with a letter or digit"
            )
        name = name.strip()
        if not name or len(name) > 256 or "\x00" in name:
            raise ValueError("project name must be 1-256 characters")
        with postgres_errors("creating a project"):
            try:
                record = await self._pool.fetchrow(
                    "INSERT INTO projects (id, name) VALUES ($1, $2) RETURNING *",
                    project_id,
                    name,
                )
            except asyncpg.UniqueViolationError:
                raise ProjectExists(f"project {project_id} already exists") from None
        assert record is not None
        return _row(record)

    async def ensure(self, project_id: str, name: str) -> ProjectRow:
        """The project ``project_id``, created with ``name`` when missing (idempotent)."""
        with postgres_errors("ensuring a project"):
            await self._pool.execute(
                "INSERT INTO projects (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                project_id,
                name,
            )
        found = await self.get(project_id)
        assert found is not None
        return found

    async def get(self, project_id: str) -> ProjectRow | None:
        """The project, or None."""
        if not PROJECT_ID.match(project_id):
            return None
        with postgres_errors("reading a project"):
            record = await self._pool.fetchrow("SELECT * FROM projects WHERE id = $1", project_id)
        return _row(record) if record is not None else None

    async def list_all(self) -> list[ProjectRow]:
        """All projects, oldest first."""
        with postgres_errors("listing projects"):
            records = await self._pool.fetch("SELECT * FROM projects ORDER BY created_at, id")
        return [_row(r) for r in records]
