"""The project an all-in-one has on its first start, kept in PostgreSQL like every other.

Sources, in order (docs/architecture.md "Deployment modes"):
1. ``OTELFUSE_INIT_PROJECT_*`` (all three set): ``PostgresRuntime.open`` creates that project
   and key pair when missing; nothing is done here.
2. ``<data_dir>/project.json``, written by otelfuse before PostgreSQL was embedded
   (``{project_id, name, public_key, secret_hash}``): imported once (the secret's hash moves,
   the secret itself was never stored) and renamed ``project.json.imported``.
3. No project in PostgreSQL at all: a project ``default`` and a key pair are created; the
   secret is returned once, to be printed once, and only its hash is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from storage.postgres.runtime import PostgresRuntime

__all__ = ["LEGACY_PROJECT_FILE", "FirstProject", "ensure_first_project"]

LEGACY_PROJECT_FILE = "project.json"


@dataclass(frozen=True, slots=True)
class FirstProject:
    """A project created on this start, with the only copy of its secret key."""

    project_id: str
    public_key: str
    secret_key: str = field(repr=False)


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
