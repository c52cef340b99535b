"""``otelfuse replay``: re-derive observations, usage and cost from the raw archive
(docs/archive-format.md, docs/operations.md "Replay and disaster recovery").

    otelfuse replay --project P --from T1 --to T2 [--dry-run] [--rate N]
                    [--checkpoint FILE] [--with-scores] [--via-kafka]

Every archived request of project ``P`` received in ``[T1, T2)`` is read in archive order, each
request once (``storage.archive.reader``), and mapped again with the CURRENT mapping rules and
the receive time it was archived with (so a replay is deterministic); the records go through the
normal write path:

- default (all-in-one, offline): the pipeline of ``otelfuse run`` (merge, usage, tokens, prices
  from PostgreSQL custom models and the catalog, batched insert) on the configured ClickHouse;
  with the embedded ClickHouse the service must be stopped (the data folder is locked by one
  process);
- ``--via-kafka`` (scale-out): the records are published to the observations topic like a
  receiver does, and the processors write them.

Rows keep their ids (span ids, ingestion ids), so a replayed observation replaces the stored
one: ``observations`` is a ``ReplacingMergeTree`` versioned by ``event_ts``, the write time, and
the writer skips rows whose content hash did not change. Scores are not written unless
``--with-scores`` (disaster recovery), so scores edited since stay as they are.

Progress (objects, requests, records, bytes, rate, ETA) goes to stderr every 2 s; after each
object the checkpoint file records its key, and a rerun with the same arguments resumes after
it (the file is removed when the replay completes). The summary counts the distinct
observations replayed, those whose row changed and, per model, their total cost before and after
(read from ClickHouse around each object's write, about 200 bytes of memory per observation;
not with ``--via-kafka`` or ``--dry-run``; a resumed run summarises its own part).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from ingest.http.body import parse_json
from ingest.ingestion.events import parse_batch
from ingest.ingestion.scores import parse_score
from ingest.ingestion.values import Invalid
from ingest.mapping import IngestContext, map_export_request
from ingest.mapping.logs import map_logs_request
from ingest.otlp.json_codec import decode_json_request, parse_logs_request
from ingest.otlp.protobuf_codec import decode_protobuf_request
from ingest.sinks import RecordSink, ScoreSink
from storage.archive import ArchivedRequest
from storage.archive.reader import ArchiveReader
from storage.clickhouse.client import Client
from storage.records import ObservationRecord, ScoreRecord

__all__ = [
    "CostSnapshot",
    "ModelCost",
    "ReplayOptions",
    "ReplaySummary",
    "Replayer",
    "map_archived",
    "parse_time",
]

_WINDOW = 64
"""Requests submitted to the sink at once (the pipeline batches them)."""
_PROGRESS_S = 2.0


def parse_time(text: str) -> datetime:
    """An ISO-8601 time (``2026-12-03T10:00``, ``...Z``, with an offset); naive means UTC.

    Raises:
        ValueError: not an ISO-8601 time.
    """
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def map_archived(request: ArchivedRequest) -> tuple[list[ObservationRecord], list[ScoreRecord]]:
    """The records and scores of one archived request, mapped by the current rules with its
    archived receive time (what the receiver stored, minus what it refused then and now).

    Raises:
        OTLPDecodeError, BadRequest, ValueError: the body does not decode (never for bodies
            otelfuse archived).
    """
    now_us = request.received_unix_nano // 1000
    ctx = IngestContext(
        project_id=request.project_id,
        sdk_name=request.sdk_name,
        sdk_version=request.sdk_version,
    )
    json_body = request.content_type.startswith("application/json")
    if request.kind == ArchivedRequest.OTLP_TRACES:
        decoded = (decode_json_request if json_body else decode_protobuf_request)(request.body)
        mapped = map_export_request(decoded.request, ctx, now_us=now_us, rejected=decoded.rejected)
        return list(mapped.records), list(mapped.scores)
    if request.kind == ArchivedRequest.OTLP_LOGS:
        if json_body:
            logs = parse_logs_request(request.body)
        else:
            logs = ExportLogsServiceRequest()
            logs.ParseFromString(request.body)
        result = map_logs_request(logs, ctx, now_us=now_us)
        return list(result.records), list(result.scores)
    body = parse_json(request.body)
    if request.kind == ArchivedRequest.LANGFUSE_INGESTION:
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            return [], []
        parsed = parse_batch(body["batch"], ctx, now_us=now_us)
        return [r for _, _, r in parsed.records], [r for _, _, r in parsed.scores]
    if request.kind == ArchivedRequest.LANGFUSE_SCORES:
        scores = []
        for item in body if isinstance(body, list) else [body]:
            with contextlib.suppress(Invalid):
                scores.append(parse_score(item, request.project_id, now_us=now_us))
        return [], scores
    return [], []


@dataclass(slots=True)
class ModelCost:
    """Observations of one model replayed, and their total cost before and after (USD)."""

    observations: int = 0
    before: Decimal = Decimal(0)
    after: Decimal = Decimal(0)


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did (``as_json`` for ``--json`` and tests)."""

    objects: int = 0
    requests: int = 0
    duplicates: int = 0
    records: int = 0
    scores: int = 0
    bytes: int = 0
    observations_changed: int = 0
    observations_unchanged: int = 0
    resumed_after: str | None = None
    seconds: float = 0.0
    models: dict[str, ModelCost] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The summary as JSON values (costs as decimal text)."""
        return {
            "objects": self.objects,
            "requests": self.requests,
            "duplicates": self.duplicates,
            "records": self.records,
            "scores": self.scores,
            "bytes": self.bytes,
            "observationsChanged": self.observations_changed,
            "observationsUnchanged": self.observations_unchanged,
            "resumedAfter": self.resumed_after,
            "seconds": round(self.seconds, 3),
            "recordsPerSecond": round(self.records / self.seconds, 1) if self.seconds else None,
            "models": {
                model: {
                    "observations": cost.observations,
                    "costBefore": str(cost.before),
                    "costAfter": str(cost.after),
                }
                for model, cost in sorted(self.models.items())
            },
        }

    def text(self) -> str:
        """A human-readable summary."""
        lines = [
            f"replayed {self.requests} requests ({self.duplicates} duplicate frames skipped) "
            f"from {self.objects} objects, {self.bytes} bytes: {self.records} records, "
            f"{self.scores} scores in {self.seconds:.1f} s",
            f"observations changed: {self.observations_changed}, "
            f"unchanged: {self.observations_unchanged}",
        ]
        for model, cost in sorted(self.models.items()):
            lines.append(
                f"  {model or '(no model)'}: {cost.observations} observations, "
                f"cost {cost.before} -> {cost.after} USD"
            )
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Row:
    model: str
    cost: Decimal | None
    content_hash: int


class CostSnapshot:
    """Reads model, total cost and content hash of stored observations by id (``FINAL``)."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._db = database

    def read(self, project_id: str, ids: Sequence[str]) -> dict[str, _Row]:
        """The stored rows of ``ids`` in ``project_id`` (missing ids are absent)."""
        found: dict[str, _Row] = {}
        for start in range(0, len(ids), 5000):
            rows = self._client.select(
                "SELECT id, ifNull(provided_model_name, '') AS model,"
                " toString(total_cost) AS cost, content_hash"
                f" FROM {self._db}.observations FINAL"
                " WHERE project_id = {project_id:String} AND id IN {ids:Array(String)}"
                " AND is_deleted = 0",
                {"project_id": project_id, "ids": list(ids[start : start + 5000])},
            )
            for row in rows:
                cost = row["cost"]
                found[row["id"]] = _Row(
                    row["model"],
                    None if cost in (None, "", "\\N") else Decimal(cost),
                    int(row["content_hash"]),
                )
        return found


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """What ``Replayer.run`` replays (module docstring)."""

    project_id: str
    start: datetime
    end: datetime
    dry_run: bool = False
    rate: float = 0.0
    """Records per second at most (0: as fast as the sink takes them)."""
    checkpoint: Path | None = None
    with_scores: bool = False


class Replayer:
    """Replays one project's archive into ``sink`` / ``scores`` (module docstring).

    Args:
        reader: the archive.
        sink: where records go (None with ``dry_run``).
        scores: where scores go with ``with_scores`` (None: not written).
        snapshot: reads costs before and after each object (None: no cost summary).
        progress: where progress lines go (None: nowhere).
    """

    def __init__(
        self,
        reader: ArchiveReader,
        sink: RecordSink | None,
        scores: ScoreSink | None = None,
        snapshot: CostSnapshot | None = None,
        progress: TextIO | None = sys.stderr,
    ) -> None:
        self.reader = reader
        self.sink = sink
        self.scores = scores
        self.snapshot = snapshot
        self.progress = progress
        self._rows: dict[str, tuple[_Row | None, _Row]] = {}

    async def run(self, options: ReplayOptions) -> ReplaySummary:
        """Replay ``options``; resumes after the checkpoint's object when its file exists for
        the same arguments, and removes it at the end.

        Raises:
            RetryableError / PermanentError: the archive or the sink failed (the checkpoint
                keeps the last object written; rerun to resume).
        """
        summary = ReplaySummary()
        self._rows = {}
        started = time.monotonic()
        objects = await self.reader.list_objects(options.project_id, options.start, options.end)
        after = _load_checkpoint(options)
        if after is not None:
            summary.resumed_after = after
            objects = [(key, size) for key, size in objects if key > after]
        total_bytes = sum(size for _, size in objects)
        start_ns, end_ns = _ns(options.start), _ns(options.end)
        last_progress = 0.0
        for index, (key, size) in enumerate(objects):
            archived = await self.reader.read_object(key, size, start_ns, end_ns)
            summary.duplicates += archived.duplicates
            records: list[list[ObservationRecord]] = []
            scores: list[list[ScoreRecord]] = []
            for request in archived.requests:
                mapped, mapped_scores = map_archived(request)
                records.append(mapped)
                scores.append(mapped_scores if options.with_scores else [])
            ids = _observation_ids(r for batch in records for r in batch)
            before = await self._snapshot(options, ids)
            if not options.dry_run:
                await self._submit(records, scores, options, summary, started)
            if before is not None:
                await self._compare(options.project_id, ids, before)
            summary.objects += 1
            summary.requests += len(archived.requests)
            summary.records += sum(len(batch) for batch in records)
            summary.scores += sum(len(batch) for batch in scores)
            summary.bytes += size
            if options.checkpoint is not None and not options.dry_run:
                _save_checkpoint(options, key)
            now = time.monotonic()
            if self.progress is not None and (
                now - last_progress >= _PROGRESS_S or index == len(objects) - 1
            ):
                last_progress = now
                self._report(summary, index + 1, len(objects), total_bytes, now - started)
        if options.checkpoint is not None and not options.dry_run:
            options.checkpoint.unlink(missing_ok=True)
        self._summarise(summary)
        summary.seconds = time.monotonic() - started
        return summary

    async def _submit(
        self,
        records: list[list[ObservationRecord]],
        scores: list[list[ScoreRecord]],
        options: ReplayOptions,
        summary: ReplaySummary,
        started: float,
    ) -> None:
        """Submit each request's records in archive order, ``_WINDOW`` requests in flight."""
        assert self.sink is not None
        pending: set[asyncio.Task[Any]] = set()
        done_records = summary.records
        for batch, score_batch in zip(records, scores, strict=True):
            if batch:
                pending.add(asyncio.create_task(self.sink.submit(batch)))
            if score_batch and self.scores is not None:
                pending.add(asyncio.create_task(self.scores.submit_scores(score_batch)))
            if len(pending) >= _WINDOW:
                finished, pending = await asyncio.wait(pending, return_when="FIRST_COMPLETED")
                for task in finished:
                    task.result()
            done_records += len(batch)
            if options.rate > 0:
                ahead = done_records / options.rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        if pending:
            for outcome in await asyncio.gather(*pending, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    raise outcome

    async def _snapshot(self, options: ReplayOptions, ids: list[str]) -> dict[str, _Row] | None:
        if self.snapshot is None or not ids or options.dry_run:
            return None
        return await asyncio.to_thread(self.snapshot.read, options.project_id, ids)

    async def _compare(self, project_id: str, ids: list[str], before: dict[str, _Row]) -> None:
        """Read the rows of ``ids`` after the write; keep each id's FIRST stored row (from
        before its first replay in this run) and its LAST one (an id replayed from several
        objects, e.g. an ingestion create and a later update, counts once)."""
        assert self.snapshot is not None
        after = await asyncio.to_thread(self.snapshot.read, project_id, ids)
        for observation_id, row in after.items():
            seen = self._rows.get(observation_id)
            first = seen[0] if seen is not None else before.get(observation_id)
            self._rows[observation_id] = (first, row)

    def _summarise(self, summary: ReplaySummary) -> None:
        for old, row in self._rows.values():
            if old is not None and old.content_hash == row.content_hash:
                summary.observations_unchanged += 1
            else:
                summary.observations_changed += 1
            cost = summary.models.setdefault(row.model, ModelCost())
            cost.observations += 1
            cost.after += row.cost or 0
            if old is not None:
                cost.before += old.cost or 0

    def _report(
        self, summary: ReplaySummary, done: int, objects: int, total_bytes: int, elapsed: float
    ) -> None:
        assert self.progress is not None
        rate = summary.bytes / elapsed if elapsed > 0 else 0.0
        eta = (total_bytes - summary.bytes) / rate if rate > 0 else 0.0
        print(
            f"replay: objects {done}/{objects}, requests {summary.requests}, records "
            f"{summary.records}, bytes {summary.bytes}/{total_bytes}, "
            f"{summary.records / elapsed if elapsed else 0:.0f} records/s, ETA {eta:.0f} s",
            file=self.progress,
            flush=True,
        )


def _observation_ids(records: Iterable[ObservationRecord]) -> list[str]:
    return sorted({r.id for r in records if r.id and not r.trace_only})


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _checkpoint_id(options: ReplayOptions) -> dict[str, str]:
    return {
        "project": options.project_id,
        "from": options.start.isoformat(),
        "to": options.end.isoformat(),
    }


def _load_checkpoint(options: ReplayOptions) -> str | None:
    if options.checkpoint is None or options.dry_run or not options.checkpoint.exists():
        return None
    saved = json.loads(options.checkpoint.read_text())
    if {k: saved.get(k) for k in ("project", "from", "to")} != _checkpoint_id(options):
        raise ValueError(
            f"checkpoint {options.checkpoint} belongs to another replay ({saved}); remove it"
        )
    last = saved.get("lastObject")
    return str(last) if last else None


def _save_checkpoint(options: ReplayOptions, key: str) -> None:
    assert options.checkpoint is not None
    options.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    temp = options.checkpoint.with_suffix(".tmp")
    temp.write_text(json.dumps({**_checkpoint_id(options), "lastObject": key}))
    temp.replace(options.checkpoint)
