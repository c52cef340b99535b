"""The initial project, kept in PostgreSQL like every other (docs/architecture.md
"Deployment modes").

``ensure_init_project``: ``OTELFUSE_INIT_PROJECT_*`` (all three set) become a project and key
pair when missing; ``otelfuse migrate`` calls it (scale-out: one Job or container before the
roles start; the roles themselves only read PostgreSQL) and so does ``otelfuse run``. It is
idempotent and safe when several run at once (``INSERT ... ON CONFLICT DO NOTHING`` for the
project, a unique public key for the key), and it never changes or un-revokes an existing key.

``ensure_first_project`` (all-in-one only), after it:
1. ``<data_dir>/project.json``, written by otelfuse before PostgreSQL was embedded
   (``{project_id, name, public_key, secret_hash}``): imported once (the secret's hash moves,
   the secret itself was never stored) and renamed ``project.json.imported``.
2. No project in PostgreSQL at all: a project ``default`` and a key pair are created; the
   secret is returned once, to be printed once, and only its hash is stored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from storage.postgres.api_keys import ApiKeyRepository
from storage.postgres.config import InitProject
from storage.postgres.pool import PgPool
from storage.postgres.projects import ProjectRepository
from storage.postgres.runtime import PostgresRuntime

__all__ = [
    "LEGACY_PROJECT_FILE",
    "FirstProject",
    "ensure_first_project",
    "ensure_init_project",
]

log = logging.getLogger(__name__)

LEGACY_PROJECT_FILE = "project.json"


@dataclass(frozen=True, slots=True)
class FirstProject:
    """A project created on this start, with the only copy of its secret key."""

    project_id: str
    public_key: str
    secret_key: str = field(repr=False)


async def ensure_init_project(pool: PgPool, init: InitProject) -> str | None:
    """Create the ``OTELFUSE_INIT_PROJECT_*`` project and key pair when missing (module
    docstring); nothing when ``init`` is empty.

    Returns:
        None without ``init``, else ``created``, ``exists``, ``revoked`` or
        ``secret-differs`` (the stored key is kept; both last cases are logged as warnings).

    Raises:
        PermanentError: the public key belongs to another project, or the project id is
            refused.
        RetryableError: PostgreSQL unreachable.
    """
    if not init.project_id:
        return None
    await ProjectRepository(pool).ensure(init.project_id, init.project_id)
    outcome = await ApiKeyRepository(pool).ensure(init.project_id, init.public_key, init.secret_key)
    if outcome == "revoked":
        log.warning("the OTELFUSE_INIT_PROJECT_PUBLIC_KEY key is revoked; it stays revoked")
    elif outcome == "secret-differs":
        log.warning(
            "OTELFUSE_INIT_PROJECT_SECRET_KEY does not match the stored key; the stored key is kept"
        )
    return outcome


async def ensure_first_project(runtime: PostgresRuntime, data_dir: Path) -> FirstProject | None:
    """Import ``project.json`` or create the first project (see module docstring).

    Returns:
        The project created now (its secret is to be shown once), else None.

    Raises:
        ValueError: ``project.json`` exists but is unreadable.
        RetryableError / PermanentError: PostgreSQL failed.
    """
    legacy = data_dir / LEGACY_PROJECT_FILE
    if legacy.exists():
        await _import_legacy(runtime, legacy)
        legacy.rename(legacy.with_name(f"{LEGACY_PROJECT_FILE}.imported"))
        await runtime.keys.refresh_once()
        return None
    if await runtime.projects.list_all():
        return None
    project = await runtime.projects.create("default")
    created = await runtime.api_keys.create(project.id, note="created on first start")
    await runtime.keys.refresh_once()
    return FirstProject(project.id, created.info.public_key, created.secret_key)


async def _import_legacy(runtime: PostgresRuntime, path: Path) -> None:
    try:
        stored = json.loads(path.read_text())
        project_id, name = stored["project_id"], stored.get("name") or stored["project_id"]
        public_key, secret_hash = stored["public_key"], stored["secret_hash"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    await runtime.projects.ensure(project_id, name)
    await runtime.api_keys.import_hashed(
        project_id, public_key, secret_hash, note=f"imported from {LEGACY_PROJECT_FILE}"
    )
