"""Forward-only, numbered ClickHouse schema migrations.

Migrations are ``storage/clickhouse/migrations/NNNN_name.sql`` files, applied in version order.
A file may hold several statements, separated by a ``;`` at the end of a line; ``{database}`` is
replaced by the target database name. Applied versions are recorded in
``{database}.schema_migrations`` (version, name, applied_at), so running again applies only new
files.

The runner is deliberately tiny: no maintained migration package (golang-migrate, as Langfuse
uses, or the Python ones) works against embedded chdb, which has no TCP/HTTP endpoint. It only
uses ``Client`` calls, so the same files run on chdb and on a server (``ServerClient``); its own
bookkeeping table uses types every ClickHouse version has. ``ON CLUSTER``/replicated DDL is not
handled. ClickHouse DDL is not transactional, so every statement must be safe to re-run
(``IF NOT EXISTS``, ``ADD COLUMN IF NOT EXISTS``): a migration interrupted half-way is simply
applied again. Run one migrator at a time (the ``migrate`` role): two concurrent runs may both
apply a file, which the idempotent statements tolerate.
"""

from __future__ import annotations

import logging
import re
import time
from importlib.resources.abc import Traversable

from storage.clickhouse.client import Client
from storage.errors import PermanentError
from storage.migrations import Migration
from storage.migrations import load_migrations as load_files

__all__ = ["Migration", "apply_migrations", "load_migrations", "split_statements"]

log = logging.getLogger(__name__)

_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATEMENT_END = re.compile(r";[ \t]*(?:\r?\n|$)")


def split_statements(sql: str) -> list[str]:
    """Split a file into statements at each ``;`` that ends a line; drop comment-only chunks."""
    statements = []
    for chunk in _STATEMENT_END.split(sql):
        code = "\n".join(
            line for line in chunk.splitlines() if not line.strip().startswith("--")
        ).strip()
        if code:
            statements.append(chunk.strip())
    return statements


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """The migration files of ``storage.clickhouse.migrations`` (or ``directory``), by version.

    Raises:
        PermanentError: a ``.sql`` file is misnamed or two files share a version.
    """
    return load_files("storage.clickhouse.migrations", directory)


def apply_migrations(
    client: Client, database: str = "otelfuse", *, directory: Traversable | None = None
) -> list[str]:
    """Create ``database`` if needed and apply every migration not yet recorded, in order.

    Returns the names of the migrations applied by this call (``[]`` when up to date).

    Raises:
        PermanentError: invalid database name, bad migration file or bad SQL.
        RetryableError: ClickHouse failed transiently (the call can be repeated).
    """
    if not _DATABASE_NAME.match(database):
        raise PermanentError(f"invalid ClickHouse database name {database!r}")
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations"
        " (version UInt32, name String, applied_at DateTime)"
        " ENGINE = ReplacingMergeTree(applied_at) ORDER BY version"
    )
    rows = client.select(f"SELECT DISTINCT version FROM {database}.schema_migrations")
    done = {int(row["version"]) for row in rows}
    applied: list[str] = []
    for migration in load_migrations(directory):
        if migration.version in done:
            continue
        for statement in split_statements(migration.sql):
            client.command(statement.replace("{database}", database))
        client.insert_rows(
            f"{database}.schema_migrations",
            ("version", "name", "applied_at"),
            [(migration.version, migration.name, time.time_ns() // 1000)],
        )
        log.info("applied ClickHouse migration %s to %s", migration.name, database)
        applied.append(migration.name)
    apply_table_settings(client, database)
    return applied


def apply_table_settings(client: Client, database: str) -> None:
    """Set ``client.merge_tree_settings`` on every MergeTree table of ``database`` that lacks
    them (``ALTER TABLE ... MODIFY SETTING``, metadata only), so tables created by any
    migration, and those of an older data folder, get them; tables that have them are left
    alone.

    Raises:
        PermanentError / RetryableError: as ``Client.command``.
    """
    settings = client.merge_tree_settings
    if not settings:
        return
    wanted = [f"{name} = {int(value)}" for name, value in settings.items()]
    rows = client.select(
        "SELECT name, engine_full FROM system.tables WHERE database = {database:String}"
        " AND engine LIKE '%MergeTree' ORDER BY name",
        {"database": database},
    )
    for row in rows:
        missing = [setting for setting in wanted if setting not in row["engine_full"]]
        if missing:
            client.command(
                f"ALTER TABLE {database}.`{row['name']}` MODIFY SETTING {', '.join(missing)}"
            )
