"""Merging Langfuse ingestion events onto stored observations (docs/reference/langfuse.md §3.4).

Records from ``POST /api/public/ingestion`` carry ``partial = true``: each is one create or
update event, and an update only sets what it changes. Before enrichment every partial record
is folded, in batch order, onto the stored row of its ``(project_id, id)`` (read with ONE
``FINAL`` query per batch) and onto the earlier partial records of that id in the batch:

- immutable fields keep their first non-empty value: ``id``, ``project_id``, ``trace_id``,
  ``start_time_us``, ``environment``, and ``type`` (deliberate: Langfuse's sort key holds the type,
  so a type change there starts a new row; here the row keeps its type);
- other scalars: a later set value wins (``optional`` fields when present, plain strings when
  non-empty); ``input``/``output`` only when non-empty;
- ``metadata``: deep-merged (``storage.metadata``: values are JSON text; two JSON objects merge
  key by key, anything else is replaced);
- trace metadata: deep-merged like ``metadata``;
- ``provided_usage_details`` / ``provided_cost_details``: merged key by key, so an empty map
  never overwrites; trace ``tags``: sorted union;
- enrichment fields and the ``enriched`` mark are cleared (the enricher recomputes usage and
  cost on the merged record);
- fields added to the proto later: messages ``MergeFrom``, repeated fields replaced when the
  event has items, strings as above;
- afterwards: an empty ``trace_id`` becomes the id (Langfuse's synthetic trace), an empty
  level ``DEFAULT``, an empty environment ``default``, an ``end_time`` before ``start_time``
  becomes ``start_time``, and ``partial`` is cleared.

Merging is idempotent: a redelivered event folds onto a row that already holds it and yields
the same record, which the writer then skips (same content hash).

``MergeThenEnrichAndWrite`` is the all-in-one pipeline's process step: write trace-only
records (trace-create events), fold GenAI log content onto spans (``processors.log_merge``),
merge, then ``EnrichAndWrite``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from google.protobuf.descriptor import FieldDescriptor

from storage.metadata import merge_metadata_into
from storage.records import ObservationRecord

__all__ = [
    "IMMUTABLE_FIELDS",
    "MergeThenEnrichAndWrite",
    "StoredObservations",
    "TraceOnlySink",
    "fold",
    "merge_partials",
]

log = logging.getLogger(__name__)

IMMUTABLE_FIELDS: frozenset[str] = frozenset(
    {"id", "project_id", "trace_id", "start_time_us", "environment", "type"}
)
"""Fields that keep their first non-empty value (§3.4, plus ``type``)."""

_ENRICHMENT_FIELDS: frozenset[str] = frozenset(
    {
        "usage_details",
        "cost_details",
        "total_cost",
        "internal_model_id",
        "usage_pricing_tier_id",
        "usage_pricing_tier_name",
        "usage_estimated",
    }
)
_FLAGS: frozenset[str] = frozenset({"partial", "trace_only", "from_log", "enriched"})
_SKIPPED: frozenset[str] = _ENRICHMENT_FIELDS | _FLAGS
_NON_EMPTY_ONLY: frozenset[str] = frozenset({"input", "output", "model_parameters"})
_EMPTY_JSON_OBJECT = frozenset({"", "{}", "null"})

ObservationKey = tuple[str, str]


class StoredObservations(Protocol):
    """Reads stored observations (``storage.clickhouse.observation_reader.ObservationReader``)."""

    def read(
        self, keys: Sequence[ObservationKey]
    ) -> Mapping[ObservationKey, list[ObservationRecord]]:
        """Stored ``ObservationRecord``s per ``(project_id, id)``, most recent first."""
        ...


class TraceOnlySink(Protocol):
    """Applies trace-only records (``storage.clickhouse.writer.ClickHouseWriter``)."""

    def write_traces(self, records: Sequence[ObservationRecord]) -> None:
        """Merge the records into their traces; raises ``RetryableError``/``PermanentError``."""
        ...


def _merge_trace_fields(target: ObservationRecord, update: ObservationRecord) -> None:
    t, u = target.trace, update.trace
    if u.is_root:
        t.is_root = True
    for name in ("name", "user_id", "session_id", "public", "input", "output"):
        if u.HasField(name):
            setattr(t, name, getattr(u, name))
    if u.tags:
        tags = sorted(set(t.tags) | set(u.tags))
        del t.tags[:]
        t.tags.extend(tags)
    merge_metadata_into(t.metadata, u.metadata)


def _apply(target: ObservationRecord, update: ObservationRecord) -> None:
    """Fold one event onto ``target`` in place (rules in the module docstring). Only the fields
    set in ``update`` are visited (``ListFields``): an unset field never changes ``target``."""
    for field, value in update.ListFields():
        name = field.name
        if name in _SKIPPED:
            continue
        if name == "trace":
            _merge_trace_fields(target, update)
        elif name == "metadata":
            merge_metadata_into(target.metadata, value)
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(target, name).update(value)  # usage/cost: key by key
        elif field.message_type is not None:
            getattr(target, name).MergeFrom(value)
        elif field.is_repeated:
            del getattr(target, name)[:]
            getattr(target, name).extend(value)
        elif name in IMMUTABLE_FIELDS:
            if not getattr(target, name):
                setattr(target, name, value)
        elif field.has_presence:
            if name not in _NON_EMPTY_ONLY or value not in _EMPTY_JSON_OBJECT:
                setattr(target, name, value)
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(target, name, value)  # listed, so non-empty


def _finish(record: ObservationRecord) -> ObservationRecord:
    for name in _ENRICHMENT_FIELDS:
        record.ClearField(name)
    record.partial = False
    record.from_log = False
    record.enriched = False
    if not record.trace_id:
        record.trace_id = record.id
    if not record.level:
        record.level = "DEFAULT"
    if not record.environment:
        record.environment = "default"
    if record.HasField("end_time_us") and record.end_time_us < record.start_time_us:
        record.end_time_us = record.start_time_us
    return record


def fold(
    stored: ObservationRecord | None, events: Sequence[ObservationRecord]
) -> ObservationRecord:
    """``stored`` (or an empty record) with ``events`` applied in order; inputs unchanged."""
    merged = ObservationRecord()
    if stored is not None:
        merged.CopyFrom(stored)
    for event in events:
        _apply(merged, event)
    return _finish(merged)


def _pick(
    candidates: Sequence[ObservationRecord], events: Sequence[ObservationRecord]
) -> ObservationRecord | None:
    """The stored row to merge onto: the one in the events' trace, else the newest (its trace
    id is immutable, so an update naming another trace still lands on it, as in Langfuse)."""
    wanted = next((e.trace_id for e in events if e.trace_id), "")
    match = next((c for c in candidates if c.trace_id == wanted), None) if wanted else None
    return match or (candidates[0] if candidates else None)


def merge_partials(
    records: Sequence[ObservationRecord], stored: StoredObservations
) -> list[ObservationRecord]:
    """Replace the partial records of ``records`` by one merged record per ``(project_id, id)``
    (at the position of its first event); other records pass unchanged, in order."""
    groups: dict[ObservationKey, list[ObservationRecord]] = {}
    for record in records:
        if record.partial:
            groups.setdefault((record.project_id, record.id), []).append(record)
    if not groups:
        return list(records)
    found = stored.read(list(groups))
    merged = {
        key: fold(_pick(found.get(key, []), events), events) for key, events in groups.items()
    }
    out: list[ObservationRecord] = []
    for record in records:
        if not record.partial:
            out.append(record)
            continue
        key = (record.project_id, record.id)
        result = merged.pop(key, None)
        if result is not None:
            out.append(result)
    return out


class MergeThenEnrichAndWrite:
    """Process step for observation records (all-in-one ``Pipeline``, scale-out consumer):
    apply trace-only records, merge partial records, then run ``enrich_and_write``
    (``processors.batch.EnrichAndWrite``) on the observations.

    Args:
        enrich_and_write: the usual process step.
        stored: reads the rows partial records merge onto.
        traces: writes trace-only records (the ``ClickHouseWriter`` of ``enrich_and_write``,
            so that both share one trace-state cache).
        logs: folds GenAI log content onto spans in either arrival order
            (``processors.log_merge.LogMerge``); without it ``from_log`` records are merged like
            ingestion events.

    Runs in the pipeline's worker thread; raises what the reads and writes raise.
    """

    def __init__(
        self,
        enrich_and_write: Callable[[Sequence[ObservationRecord]], object],
        stored: StoredObservations,
        traces: TraceOnlySink,
        logs: Callable[[Sequence[ObservationRecord]], Sequence[ObservationRecord]] | None = None,
    ) -> None:
        self._inner = enrich_and_write
        self._stored = stored
        self._traces = traces
        self._logs = logs

    def __call__(self, records: Sequence[ObservationRecord]) -> None:
        trace_only = [r for r in records if r.trace_only]
        if trace_only:
            records = [r for r in records if not r.trace_only]
            self._traces.write_traces(trace_only)
        if self._logs is not None:
            records = self._logs(records)
        if any(r.partial for r in records):
            records = merge_partials(records, self._stored)
        if records:
            self._inner(records)
