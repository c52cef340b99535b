"""The all-in-one project: one project and key pair from settings or the data folder.

Sources, in order (docs/architecture.md "Deployment modes"):
1. ``OTELFUSE_INIT_PROJECT_ID``, ``OTELFUSE_INIT_PROJECT_PUBLIC_KEY`` and
   ``OTELFUSE_INIT_PROJECT_SECRET_KEY`` all set: used as given (the secret is hashed in memory).
2. ``<data_dir>/project.json`` from an earlier start: ``{project_id, public_key, secret_hash}``.
3. Neither: a key pair is generated, the secret is returned once (to be printed once) and only
   its hash is written to ``<data_dir>/project.json`` (mode 0600).
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from storage.auth import Project, StaticKeyStore, hash_secret

__all__ = ["InitProject", "ProjectBootstrap", "bootstrap_project"]

PROJECT_FILE = "project.json"


@dataclass(frozen=True, slots=True)
class InitProject:
    """Explicit initial project settings; all three set or all three empty."""

    project_id: str = ""
    public_key: str = ""
    secret_key: str = ""


@dataclass(frozen=True, slots=True)
class ProjectBootstrap:
    """The resulting key store and project; ``new_secret_key`` is set only when just generated."""

    keys: StaticKeyStore
    project: Project
    public_key: str
    new_secret_key: str | None


def bootstrap_project(data_dir: Path, init: InitProject) -> ProjectBootstrap:
    """Resolve the all-in-one project (see module docstring).

    Raises:
        ValueError: only some of the three ``OTELFUSE_INIT_PROJECT_*`` settings are set, or
            ``project.json`` is unreadable.
    """
    given = [init.project_id, init.public_key, init.secret_key]
    if any(given) and not all(given):
        raise ValueError(
            "set all of OTELFUSE_INIT_PROJECT_ID, OTELFUSE_INIT_PROJECT_PUBLIC_KEY and "
            "OTELFUSE_INIT_PROJECT_SECRET_KEY, or none of them"
        )
    if all(given):
        project = Project(id=init.project_id, name=init.project_id)
        keys = StaticKeyStore([(init.public_key, hash_secret(init.secret_key), project)])
        return ProjectBootstrap(keys, project, init.public_key, None)

    path = data_dir / PROJECT_FILE
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            project = Project(id=stored["project_id"], name=stored.get("name", ""))
            public_key, secret_hash = stored["public_key"], stored["secret_hash"]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"cannot read {path}: {exc}") from exc
        return ProjectBootstrap(
            StaticKeyStore([(public_key, secret_hash, project)]), project, public_key, None
        )

    project = Project(id=f"proj-{uuid.uuid4().hex[:12]}", name="default")
    public_key = f"pk-lf-{uuid.uuid4()}"
    secret_key = f"sk-lf-{secrets.token_urlsafe(32)}"
    secret_hash = hash_secret(secret_key)
    data_dir.mkdir(parents=True, exist_ok=True)
    body = {
        "project_id": project.id,
        "name": project.name,
        "public_key": public_key,
        "secret_hash": secret_hash,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh, indent=2)
    return ProjectBootstrap(
        StaticKeyStore([(public_key, secret_hash, project)]), project, public_key, secret_key
    )
