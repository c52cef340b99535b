"""A real PostgreSQL server for tests (docs/reference/test-services.md §3: Debian postgresql 15).

``start_postgres()`` runs ``initdb`` and ``pg_ctl start`` on a free loopback port with a private
socket folder, as the ``postgres`` OS user when the tests run as root (PostgreSQL refuses to run
as root). When ``initdb`` is missing it runs ``deploy/local/system-deps.sh`` (apt-get, as root)
first; when that is impossible the caller gets a ``RuntimeError``: tests must fail, not skip.
``Postgres.create_database()`` gives each test its own empty database on the shared server;
``run_with_pool`` runs a coroutine with a pool on a fresh event loop (tests are synchronous);
``migrate_with_project`` prepares a database for a scale-out role started alone, as
``otelfuse migrate`` would (schema and initial project).
"""

from __future__ import annotations

import asyncio
import fcntl
import glob
import os
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg

from storage.postgres.config import InitProject
from storage.postgres.first_project import ensure_init_project
from storage.postgres.migrate import apply_migrations
from storage.postgres.pool import PgPool, create_pool
from tests.support.service import REPO, free_port, refuse_in_fast_run

T = TypeVar("T")

SYSTEM_DEPS = REPO / "deploy" / "local" / "system-deps.sh"
_INSTALL_LOCK = Path("/tmp/otelfuse-postgres-install.lock")


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    return Path(found[-1]).parent if found else None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parts[-3]
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def ensure_installed(timeout: float = 900) -> Path:
    """The PostgreSQL ``bin`` folder, installing the Debian package first when missing.

    Raises:
        RuntimeError: PostgreSQL is missing and cannot be installed here.
    """
    found = _bin_dir()
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("PostgreSQL is missing; run deploy/local/system-deps.sh as root")
    with _INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time
        if _bin_dir() is None:
            result = subprocess.run(
                ["bash", str(SYSTEM_DEPS)], capture_output=True, text=True, timeout=timeout
            )
            if result.returncode != 0:
                raise RuntimeError(f"{SYSTEM_DEPS} failed:\n{result.stdout}\n{result.stderr}")
    found = _bin_dir()
    if found is None:
        raise RuntimeError(f"{SYSTEM_DEPS} ran but no initdb under /usr/lib/postgresql")
    return found


@dataclass
class Postgres:
    """A running server: ``url`` points at its ``postgres`` database as user ``postgres``."""

    root: Path
    bin_dir: Path
    port: int

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """The connection URL of ``database`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """Create an empty database with a unique name; return its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"

        async def create() -> None:
            conn = await asyncpg.connect(self.url)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.url_for(name)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Fast shutdown, then remove the data folder."""
        _run_as_owner(f"{self.bin_dir}/pg_ctl -D {self.root}/data -m fast -w stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _run_as_owner(command: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a shell as ``postgres`` when root (PostgreSQL refuses root)."""
    argv = ["su", "postgres", "-c", command] if os.geteuid() == 0 else ["bash", "-c", command]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"{command!r} failed:\n{result.stdout}\n{result.stderr}")
    return result


def start_postgres() -> Postgres:
    """initdb + start on a free port (TCP on 127.0.0.1, socket in a private folder).

    The folder lives under the system temp dir, not pytest's (``/tmp/pytest-of-root`` is 0700,
    which the ``postgres`` user cannot traverse).

    Raises:
        RuntimeError: PostgreSQL cannot be installed, initialised or started.
    """
    refuse_in_fast_run("start_postgres")
    bin_dir = ensure_installed()
    root = Path(tempfile.mkdtemp(prefix="otelfuse-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    data = shlex.quote(str(root / "data"))
    _run_as_owner(
        f"{bin_dir}/initdb -D {data} -U postgres --auth=trust -E UTF8 --no-locale -N"
        f" >{shlex.quote(str(root / 'initdb.log'))} 2>&1"
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    server = Postgres(root, bin_dir, port)
    try:
        _run_as_owner(
            f"{bin_dir}/pg_ctl -D {data} -l {shlex.quote(str(root / 'server.log'))} -w -t 30"
            f" -o {shlex.quote(options)} start"
        )
    except RuntimeError as exc:
        log = server.log()
        server.stop()
        raise RuntimeError(f"{exc}\n{log}") from None
    return server


def run_with_pool(url: str, body: Callable[[PgPool], Awaitable[T]]) -> T:
    """``body(pool)`` on a fresh event loop with a pool to ``url``."""

    async def main() -> T:
        pool = await create_pool(url, max_size=4)
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def migrate_with_project(url: str, project: tuple[str, str, str]) -> None:
    """Migrate the database at ``url`` and create ``project`` = (id, public key, secret key)
    in it: the PostgreSQL half of ``otelfuse migrate`` with ``OTELFUSE_INIT_PROJECT_*``."""

    async def body(pool: PgPool) -> None:
        await apply_migrations(pool)
        await ensure_init_project(pool, InitProject(*project))

    run_with_pool(url, body)


def cli_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Settings for CLI runs: the database and a data folder (embedded ClickHouse)."""
    return {
        "OTELFUSE_POSTGRES_URL": url,
        "OTELFUSE_DATA_DIR": str(data_dir),
        "OTELFUSE_INIT_PROJECT_ID": "",
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": "",
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": "",
        **extra,
    }
