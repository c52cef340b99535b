"""The ``otelfuse`` command.

``otelfuse run`` starts the all-in-one service (receivers, processor and query API in one
process). Settings come from ``OTELFUSE_*`` environment variables (see README, ``ingest.config``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from ingest.config import ConfigError, Settings

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen role; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="otelfuse", description=__doc__)
    roles = parser.add_subparsers(dest="role", required=True)
    roles.add_parser("run", help="all-in-one: OTLP receivers, processor and query API")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"otelfuse: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.role == "run":
        from ingest.app import run_all_in_one

        try:
            asyncio.run(run_all_in_one(settings))
        except (ValueError, RuntimeError) as exc:
            logging.getLogger("otelfuse").error("%s", exc)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
