"""The ``otelfuse`` command: one codebase, several roles (docs/architecture.md "Deployment
modes").

    otelfuse run                    all-in-one: receivers, processor and query API
                                    (the scale-out roles below need OTELFUSE_POSTGRES_URL)
    otelfuse receiver               OTLP in, records to Kafka
    otelfuse processor [--query]    Kafka in, ClickHouse out (and the query API)
    otelfuse query                  the Langfuse read API
    otelfuse archiver               raw topic in, archive objects out (blob store)
    otelfuse migrate                apply ClickHouse and PostgreSQL migrations, create the
                                    initial project (OTELFUSE_INIT_PROJECT_*) and exit
    otelfuse projects|keys|models   PostgreSQL metadata (``ingest.app.admin``)
    otelfuse replay ...             re-map and re-price the raw archive (``ingest.app.replay``)
    otelfuse archive prune          delete archive hours past retention

Settings come from ``OTELFUSE_*`` environment variables and an optional TOML file
(``--config`` or ``OTELFUSE_CONFIG_FILE``); see README and ``ingest.app.settings``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import signal
import sys
from pathlib import Path

from ingest.app.admin import ADMIN_COMMANDS, add_admin_parsers, run_admin
from ingest.app.archive import ARCHIVE_COMMANDS, add_archive_parsers, run_archive_command
from ingest.app.service import Service, freeze_started
from ingest.app.settings import ConfigError, Settings
from ingest.build_info import record_build_info
from ingest.memory_limiter import MEMORY_LIMITER

__all__ = ["main"]

log = logging.getLogger("otelfuse")

PRIVATE_UMASK = 0o077
"""Everything a role creates (data folder, ClickHouse files, logs of embedded servers) is
readable and writable by the service user only: span input and output are stored in clear."""


def _raise_open_files_limit() -> None:
    """Raise the soft limit of open files to the hard limit (what the Go runtime does at start
    since Go 1.19): every connection is a file descriptor, and a soft limit of 1,024 let slow
    clients make ``accept()`` fail (issue 15 item 3; docs/operations.md "Limits")."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otelfuse", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (env vars win)")
    roles = parser.add_subparsers(dest="role", required=True)
    roles.add_parser("run", help="all-in-one: OTLP receivers, processor and query API")
    roles.add_parser("receiver", help="OTLP receivers publishing to Kafka")
    processor = roles.add_parser("processor", help="Kafka consumer writing to ClickHouse")
    processor.add_argument(
        "--query", action="store_true", help="also serve the query API (embedded ClickHouse)"
    )
    roles.add_parser("query", help="the Langfuse public read API")
    roles.add_parser("archiver", help="Kafka raw topic to raw archive objects")
    roles.add_parser("migrate", help="apply ClickHouse (and PostgreSQL) migrations and exit")
    add_admin_parsers(roles)
    add_archive_parsers(roles)
    return parser


def _service(args: argparse.Namespace, settings: Settings) -> Service:
    """The role's service; scale-out roles are imported only when chosen."""
    if args.role == "run":
        from ingest.app.all_in_one import AllInOne

        return AllInOne(settings)
    if args.role == "receiver":
        from ingest.app.receiver import Receiver

        return Receiver(settings)
    if args.role == "processor":
        from ingest.app.processor import Processor

        return Processor(settings, serve_query=args.query)
    if args.role == "archiver":
        from ingest.app.archiver import Archiver

        return Archiver(settings)
    from ingest.app.query import Query

    return Query(settings)


async def _serve(args: argparse.Namespace, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    service = _service(args, settings)
    record_build_info(args.role)
    MEMORY_LIMITER.configure(settings.memory)
    try:
        await service.start()
        freeze_started()
        await stop.wait()
        log.info("shutting down")
    finally:
        await service.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen role; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.load(config_file=args.config)
    except ConfigError as exc:
        print(f"otelfuse: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.role in ADMIN_COMMANDS:
        return run_admin(args, settings)
    os.umask(PRIVATE_UMASK)
    if args.role in ARCHIVE_COMMANDS:
        return run_archive_command(args, settings)
    _raise_open_files_limit()
    try:
        if args.role == "migrate":
            from ingest.app.migrate import migrate

            applied = asyncio.run(migrate(settings))
            log.info("migrations applied: %s", ", ".join(applied) or "none pending")
        else:
            asyncio.run(_serve(args, settings))
    except ConfigError as exc:  # e.g. a scale-out role without OTELFUSE_POSTGRES_URL
        print(f"otelfuse: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # startup failures: a clear line, not a traceback
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
