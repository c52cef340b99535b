"""The raw archive of a role and its commands (docs/archive-format.md):

- ``open_archive``: the all-in-one's in-process ``ArchiveQueue`` over the configured blob store;
- ``otelfuse replay ...`` (``ingest.app.replay``) and ``otelfuse archive prune
  --older-than-days N`` (``storage.archive.prune``): ``add_archive_parsers`` and
  ``run_archive_command``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.app.media import open_blobs
from ingest.app.settings import Settings
from ingest.archive_hook import Archiving
from storage.archive.prune import prune_archive
from storage.archive.queue import ArchiveQueue
from storage.archive.reader import ArchiveReader
from storage.blobs import BlobStore
from storage.errors import PermanentError, RetryableError

if TYPE_CHECKING:  # the replay (CLI only) is imported where it runs: a worker never loads it
    from ingest.app.replay import Replayer

__all__ = ["ARCHIVE_COMMANDS", "add_archive_parsers", "open_archive", "run_archive_command"]

ARCHIVE_COMMANDS = ("replay", "archive")

log = logging.getLogger(__name__)


async def open_archive(
    settings: Settings, stack: contextlib.AsyncExitStack, store: BlobStore
) -> Archiving | None:
    """The all-in-one's archive hook over ``store`` (``ingest.app.media.open_blobs``), or None
    with ``OTELFUSE_ARCHIVE_ENABLED=false``; the queue is flushed when ``stack`` closes (after
    the receivers stopped, since they are pushed later, and before the store, pushed earlier)."""
    if not settings.archive.enabled:
        return None
    queue = ArchiveQueue(store, settings.archive)
    await queue.start()
    stack.push_async_callback(queue.stop)
    log.info("archiving accepted requests to the %s blob store (raw/v1/)", store.kind)
    return Archiving(queue, settings.archive)


def add_archive_parsers(roles: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``replay`` and ``archive prune`` on the ``otelfuse`` sub-command parser."""
    replay = roles.add_parser(
        "replay", help="re-map and re-price archived requests (docs/operations.md)"
    )
    replay.add_argument("--project", required=True, help="project id")
    replay.add_argument("--from", dest="start", required=True, help="ISO-8601, inclusive (UTC)")
    replay.add_argument("--to", dest="end", required=True, help="ISO-8601, exclusive (UTC)")
    replay.add_argument("--dry-run", action="store_true", help="read and map, write nothing")
    replay.add_argument("--rate", type=float, default=0.0, help="records per second at most")
    replay.add_argument(
        "--checkpoint", type=Path, help="resume file (default: DATA_DIR/replay/<args>.json)"
    )
    replay.add_argument(
        "--with-scores", action="store_true", help="also write scores (disaster recovery)"
    )
    replay.add_argument(
        "--via-kafka", action="store_true", help="publish to Kafka (scale-out) instead"
    )
    replay.add_argument("--json", action="store_true", help="print the summary as JSON")
    archive = roles.add_parser("archive", help="raw archive maintenance")
    commands = archive.add_subparsers(dest="command", required=True)
    prune = commands.add_parser("prune", help="delete archive hours older than N days")
    prune.add_argument(
        "--older-than-days", type=int, help="default OTELFUSE_ARCHIVE_RETENTION_DAYS"
    )


def run_archive_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``replay`` or ``archive prune``; returns the exit code (0 done, 1 failed, 2 bad
    arguments)."""
    try:
        if args.role == "replay":
            return asyncio.run(_replay(args, settings))
        return asyncio.run(_prune(args, settings))
    except ValueError as exc:
        print(f"otelfuse {args.role}: {exc}", file=sys.stderr)
        return 2
    except (RetryableError, PermanentError) as exc:
        print(f"otelfuse {args.role}: {exc}", file=sys.stderr)
        return 1


async def _prune(args: argparse.Namespace, settings: Settings) -> int:
    days = args.older_than_days or settings.archive.retention_days
    if days <= 0:
        raise ValueError("--older-than-days must be positive")
    async with contextlib.AsyncExitStack() as stack:
        store = await open_blobs(settings, stack, create=False)
        objects, size = await prune_archive(store, days)
    print(f"deleted {objects} archive objects ({size} bytes) older than {days} days")
    return 0


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.app.replay import Replayer, ReplayOptions, parse_time

    options = ReplayOptions(
        project_id=args.project,
        start=parse_time(args.start),
        end=parse_time(args.end),
        dry_run=args.dry_run,
        rate=args.rate,
        checkpoint=args.checkpoint or _default_checkpoint(settings, args),
        with_scores=args.with_scores,
    )
    if options.end <= options.start:
        raise ValueError("--to must be after --from")
    async with contextlib.AsyncExitStack() as stack:
        store = await open_blobs(settings, stack, create=False)
        reader = ArchiveReader(store)
        if options.dry_run:
            replayer = Replayer(reader, None)
        elif args.via_kafka:
            replayer = await _kafka_replayer(settings, stack, reader)
        else:
            replayer = await _local_replayer(settings, stack, reader)
        summary = await replayer.run(options)
    if args.json:
        print(json.dumps(summary.as_json(), indent=2))
    else:
        print(summary.text())
    return 0


async def _kafka_replayer(
    settings: Settings, stack: contextlib.AsyncExitStack, reader: ArchiveReader
) -> Replayer:
    from ingest.app.replay import Replayer
    from ingest.kafka import KafkaPublisher

    publisher = KafkaPublisher(settings.publisher)
    await publisher.start()
    stack.push_async_callback(publisher.stop)
    return Replayer(reader, publisher, publisher)


async def _local_replayer(
    settings: Settings, stack: contextlib.AsyncExitStack, reader: ArchiveReader
) -> Replayer:
    """The all-in-one's write path, opened for the replay (the service must be stopped when
    ClickHouse is embedded: it holds the data folder)."""
    from ingest.app.clickhouse import Storage
    from ingest.app.metadata import open_metadata
    from ingest.app.processing import observation_step
    from ingest.app.replay import CostSnapshot, Replayer
    from ingest.sinks import ThreadedScoreSink
    from processors.pipeline import Pipeline
    from storage.clickhouse.scores import ScoreWriter

    try:
        storage = await Storage.open(settings, migrate=True)
    except (RetryableError, PermanentError) as exc:
        if settings.clickhouse.url:
            raise
        hint = "with embedded ClickHouse, stop `otelfuse run` on this data folder first"
        raise type(exc)(f"{exc} ({hint})") from exc
    stack.push_async_callback(storage.close)
    postgres = await open_metadata(settings, stack)
    process, _ = await observation_step(settings, storage, postgres, stack)
    pipeline = Pipeline(process, settings.pipeline)
    await pipeline.start()
    stack.push_async_callback(pipeline.stop)
    database = settings.clickhouse.database
    scores = ThreadedScoreSink(ScoreWriter(storage.client, database))
    return Replayer(reader, pipeline, scores, CostSnapshot(storage.client, database))


def _default_checkpoint(settings: Settings, args: argparse.Namespace) -> Path:
    name = f"{args.project}-{args.start}-{args.end}".replace(":", "").replace("/", "_")
    return Path(settings.data_dir) / "replay" / f"{name}.json"
