"""Numbered SQL migration files, as both stores' migrators read them.

A migration is a file ``NNNN_name.sql`` in a package folder (``storage/clickhouse/migrations``,
``storage/postgres/migrations``); versions are the 4-digit prefixes, applied in ascending
order. Applying them is store-specific (``storage.clickhouse.migrate``,
``storage.postgres.migrate``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from storage.errors import PermanentError

__all__ = ["Migration", "load_migrations"]

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: ``version`` from the 4-digit prefix, ``name`` = file stem."""

    version: int
    name: str
    sql: str


def load_migrations(package: str, directory: Traversable | None = None) -> list[Migration]:
    """The ``.sql`` files of ``directory`` (default: the folder of ``package``), sorted by
    version.

    Raises:
        PermanentError: a ``.sql`` file is misnamed or two files share a version.
    """
    folder = directory or resources.files(package)
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise PermanentError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise PermanentError(f"two migrations share version {version}: {entry.name}")
        found[version] = Migration(version, entry.name[: -len(".sql")], entry.read_text("utf-8"))
    return [found[v] for v in sorted(found)]
