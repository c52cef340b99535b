"""``otelfuse projects|keys|models|media ...``: administration of the PostgreSQL metadata.

    otelfuse projects create --name N [--id ID]      create a project
    otelfuse projects list
    otelfuse keys create --project ID [--note TEXT]  new key pair; the secret is printed ONCE
    otelfuse keys list --project ID                  public keys and secret prefixes, never secrets
    otelfuse keys revoke PUBLIC_KEY                  refused at once by every running process
                                                     (PostgreSQL NOTIFY), at the latest within
                                                     OTELFUSE_AUTH_CACHE_TTL_S
    otelfuse models upsert --file F [--project ID]   Langfuse model definition(s) (JSON object or
                                                     array; "-" reads stdin); no --project: global
    otelfuse models list [--project ID]              the project's and the global definitions
    otelfuse models delete ID [--project ID]
    otelfuse media prune [--older-than-hours H]      delete media no trace references any more
                                                     (records and blobs), unchanged for H hours

Every command works on ``OTELFUSE_POSTGRES_URL`` (whose schema ``otelfuse migrate`` must have
migrated) or, without it, on the all-in-one's embedded PostgreSQL in ``OTELFUSE_DATA_DIR``
(used as it is while ``otelfuse run`` runs, else started for the command and stopped after);
``--json`` prints machine-readable output. Exit codes: 0 done, 1 failed or not found,
2 bad settings or arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingest.app.metadata import postgres_url
from ingest.app.settings import Settings
from storage.blobs import open_blob_store
from storage.errors import PermanentError, RetryableError
from storage.postgres.api_keys import ApiKeyInfo, ApiKeyRepository, ProjectNotFound
from storage.postgres.media import MediaRecord, MediaRepository
from storage.postgres.migrate import apply_migrations, pending_migrations
from storage.postgres.model_defs import InvalidModelDefinition, model_json, parse_model_definition
from storage.postgres.models import ModelConflict, ModelRepository, ProjectMissing
from storage.postgres.pool import PgPool, create_pool
from storage.postgres.projects import ProjectExists, ProjectRepository

__all__ = ["ADMIN_COMMANDS", "add_admin_parsers", "run_admin"]

ADMIN_COMMANDS = ("projects", "keys", "models", "media")


class _Failed(Exception):
    """A command failed in a way the user can act on; the message is printed."""


def _command(
    group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
) -> argparse.ArgumentParser:
    parser = group.add_parser(name, help=help)
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def add_admin_parsers(roles: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``projects``, ``keys`` and ``models`` on the ``otelfuse`` sub-command parser."""
    projects = roles.add_parser("projects", help="create and list projects (PostgreSQL)")
    p_cmds = projects.add_subparsers(dest="command", required=True)
    create = _command(p_cmds, "create", "create a project")
    create.add_argument("--name", required=True)
    create.add_argument("--id", dest="project_id", help="project id (default: generated)")
    _command(p_cmds, "list", "list projects")

    keys = roles.add_parser("keys", help="create, list and revoke API keys (PostgreSQL)")
    k_cmds = keys.add_subparsers(dest="command", required=True)
    create = _command(k_cmds, "create", "create a key pair (the secret is shown once)")
    create.add_argument("--project", required=True)
    create.add_argument("--note")
    listing = _command(k_cmds, "list", "list a project's keys (never the secrets)")
    listing.add_argument("--project", required=True)
    revoke = _command(k_cmds, "revoke", "revoke a key")
    revoke.add_argument("public_key")

    models = roles.add_parser("models", help="custom model prices (PostgreSQL)")
    m_cmds = models.add_subparsers(dest="command", required=True)
    upsert = _command(m_cmds, "upsert", "create or replace Langfuse model definition(s)")
    upsert.add_argument("--file", required=True, help="JSON file (object or array), - for stdin")
    upsert.add_argument("--project", help="project id (default: a global definition)")
    listing = _command(m_cmds, "list", "list definitions")
    listing.add_argument("--project", help="project id (default: global definitions only)")
    delete = _command(m_cmds, "delete", "delete a definition")
    delete.add_argument("model_id")
    delete.add_argument("--project", help="only if it belongs to this project")

    media = roles.add_parser("media", help="Langfuse media records and blobs (PostgreSQL)")
    media_cmds = media.add_subparsers(dest="command", required=True)
    prune = _command(media_cmds, "prune", "delete media that no trace references any more")
    prune.add_argument(
        "--older-than-hours",
        type=float,
        default=24.0,
        help="only media unchanged for this long (default 24)",
    )


def run_admin(args: argparse.Namespace, settings: Settings) -> int:
    """Run one admin command; returns the process exit code."""
    handler = _HANDLERS[(args.role, args.command)]
    args.settings = settings  # for commands that also open the blob store
    try:
        asyncio.run(_with_pool(settings, lambda pool: handler(pool, args)))
    except _Failed as exc:
        print(f"otelfuse: {exc}", file=sys.stderr)
        return 1
    except (RetryableError, PermanentError) as exc:
        print(f"otelfuse: {exc}", file=sys.stderr)
        return 1
    return 0


async def _with_pool(settings: Settings, run: Callable[[PgPool], Awaitable[None]]) -> None:
    """Run ``run`` on a pool to ``OTELFUSE_POSTGRES_URL``, else to the all-in-one's embedded
    server (started for the command unless ``otelfuse run`` has it running, and migrated: its
    schema is this version's)."""
    async with contextlib.AsyncExitStack() as stack:
        pool = await create_pool(await postgres_url(settings, stack, owner=False), max_size=2)
        stack.push_async_callback(pool.close)
        if not settings.postgres.url:
            await apply_migrations(pool)
        elif pending := await pending_migrations(pool):
            names = ", ".join(m.name for m in pending)
            raise _Failed(f"the PostgreSQL schema needs migrations ({names}): run otelfuse migrate")
        await run(pool)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(type(value).__name__)


# -- projects ---------------------------------------------------------------------------------


async def _projects_create(pool: PgPool, args: argparse.Namespace) -> None:
    try:
        project = await ProjectRepository(pool).create(args.name, args.project_id)
    except (ValueError, ProjectExists) as exc:
        raise _Failed(str(exc)) from None
    if args.json:
        _print_json({"id": project.id, "name": project.name, "createdAt": project.created_at})
    else:
        print(f"Created project {project.id} ({project.name})")


async def _projects_list(pool: PgPool, args: argparse.Namespace) -> None:
    projects = await ProjectRepository(pool).list_all()
    if args.json:
        _print_json([{"id": p.id, "name": p.name, "createdAt": p.created_at} for p in projects])
        return
    for p in projects:
        print(f"{p.id}\t{p.name}\t{p.created_at:%Y-%m-%d %H:%M:%S}")


# -- keys -------------------------------------------------------------------------------------


def _key_json(key: ApiKeyInfo) -> dict[str, Any]:
    return {
        "id": key.id,
        "projectId": key.project_id,
        "publicKey": key.public_key,
        "displaySecretKey": key.display_secret_key,
        "note": key.note,
        "createdAt": key.created_at,
        "lastUsedAt": key.last_used_at,
        "revokedAt": key.revoked_at,
    }


async def _keys_create(pool: PgPool, args: argparse.Namespace) -> None:
    try:
        created = await ApiKeyRepository(pool).create(args.project, args.note)
    except ProjectNotFound as exc:
        raise _Failed(str(exc)) from None
    if args.json:
        _print_json({**_key_json(created.info), "secretKey": created.secret_key})
        return
    print(
        f"Created an API key for project {args.project} (the secret is shown only once):\n"
        f"  LANGFUSE_PUBLIC_KEY={created.info.public_key}\n"
        f"  LANGFUSE_SECRET_KEY={created.secret_key}"
    )


async def _keys_list(pool: PgPool, args: argparse.Namespace) -> None:
    keys = await ApiKeyRepository(pool).list_for_project(args.project)
    if args.json:
        _print_json([_key_json(k) for k in keys])
        return
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M:%S}" if k.revoked_at else "active"
        used = f"{k.last_used_at:%Y-%m-%d %H:%M:%S}" if k.last_used_at else "never used"
        print(f"{k.public_key}\t{k.display_secret_key}\t{state}\t{used}")


async def _keys_revoke(pool: PgPool, args: argparse.Namespace) -> None:
    if not await ApiKeyRepository(pool).revoke(args.public_key):
        raise _Failed("no active key with that public key")
    if args.json:
        _print_json({"publicKey": args.public_key, "revoked": True})
    else:
        print(f"Revoked {args.public_key} (refused everywhere within the auth cache TTL)")


# -- models -----------------------------------------------------------------------------------


def _read_definitions(path: str) -> list[Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
        raw = json.loads(text, parse_float=Decimal)
    except (OSError, ValueError) as exc:
        raise _Failed(f"cannot read {path}: {exc}") from None
    return raw if isinstance(raw, list) else [raw]


async def _models_upsert(pool: PgPool, args: argparse.Namespace) -> None:
    repo = ModelRepository(pool)
    results = []
    for index, raw in enumerate(_read_definitions(args.file)):
        try:
            definition = parse_model_definition(raw)
            model, created = await repo.upsert(args.project, definition)
        except (InvalidModelDefinition, ModelConflict, ProjectMissing) as exc:
            raise _Failed(f"definition #{index + 1}: {exc}") from None
        results.append(model_json(model))
        if not args.json:
            scope = f"project {args.project}" if args.project else "global"
            verb = "Created" if created else "Updated"
            print(f"{verb} model {model.id} ({model.model_name}, {scope})")
    if args.json:
        _print_json(results)


async def _models_list(pool: PgPool, args: argparse.Namespace) -> None:
    models, _ = await ModelRepository(pool).list_visible(args.project, limit=10_000)
    if args.json:
        _print_json([{**model_json(m), "projectId": m.project_id} for m in models])
        return
    for m in models:
        scope = m.project_id or "global"
        start = m.start_date.isoformat() if m.start_date else "-"
        tiers = ", ".join(t.name for t in m.tiers) or "no prices"
        print(f"{m.id}\t{scope}\t{m.model_name}\t{m.match_pattern}\t{start}\t{tiers}")


async def _models_delete(pool: PgPool, args: argparse.Namespace) -> None:
    outcome = await ModelRepository(pool).delete(args.model_id, args.project)
    if outcome != "deleted":
        where = f" in project {args.project}" if args.project else ""
        raise _Failed(f"no model {args.model_id}{where}")
    if args.json:
        _print_json({"id": args.model_id, "deleted": True})
    else:
        print(f"Deleted model {args.model_id}")


# -- media ------------------------------------------------------------------------------------


async def _media_prune(pool: PgPool, args: argparse.Namespace) -> None:
    settings: Settings = args.settings
    store = open_blob_store(settings.blobs, settings.data_dir)
    cutoff = datetime.now(UTC) - timedelta(hours=args.older_than_hours)

    async def delete_blob(record: MediaRecord) -> None:
        await store.delete(record.bucket_path)

    try:
        deleted = await MediaRepository(pool).prune(cutoff, delete_blob)
    finally:
        await store.close()
    if args.json:
        _print_json([{"projectId": r.project_id, "mediaId": r.id} for r in deleted])
    else:
        print(f"Deleted {len(deleted)} unreferenced media record(s) and their blobs")


_HANDLERS: dict[tuple[str, str], Callable[[PgPool, argparse.Namespace], Awaitable[None]]] = {
    ("projects", "create"): _projects_create,
    ("projects", "list"): _projects_list,
    ("keys", "create"): _keys_create,
    ("keys", "list"): _keys_list,
    ("keys", "revoke"): _keys_revoke,
    ("models", "upsert"): _models_upsert,
    ("models", "list"): _models_list,
    ("models", "delete"): _models_delete,
    ("media", "prune"): _media_prune,
}
