"""Folding the input/output of GenAI event log records onto their spans, in either arrival order
(docs/mapping.md "GenAI event log records"; records from ``ingest.mapping.logs``).

A ``from_log`` record (ids, input and/or output) may reach the processor before its span, after
it, in another request or through another receiver: both travel under the trace id, so they
reach one processor in order (Kafka partition; the all-in-one queue). For each batch:

1. every ``from_log`` record is kept (``storage.clickhouse.log_io``) before anything is written;
2. every span of the batch (a full, non-partial record) gets the kept records of its id folded
   on, in the order they were kept; this covers "log first" and a span sent again later;
3. a ``from_log`` record whose span is not in the batch is folded onto the stored row of its
   ``(project_id, id)`` in its trace ("span first"), which is then written again (enrichment
   recomputed, as for ingestion updates: ``processors.merge.fold``); with no stored row yet it
   only waits in the kept records (step 2 picks it up).

Fold rule, per side (``fold_log``): the log record's input/output replaces the span's, because
Langfuse's source order puts GenAI events before every attribute family but the first four
(``ingest.mapping.io`` steps 4-6 before 7-19); for spans of those four (Langfuse SDK scopes
``langfuse-sdk*``, Genkit ``genkit-tracer``, Vercel ``ai``, Flue ``@flue/opentelemetry``) the
span's own side wins and the log only fills a side the span left empty. The rule reads only the
stored scope, so the result is the same in both arrival orders.

Everything is idempotent: keeping a record twice leaves one row, folding the same content twice
gives the same record, and the writer skips rows whose content did not change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from processors.enrich import estimates_usage
from processors.merge import StoredObservations, fold
from storage.records import ObservationRecord

__all__ = ["LogIO", "LogMerge", "attach_log_records", "fold_log", "span_keeps_own_io"]

_SCOPES_BEFORE_EVENTS = frozenset({"genkit-tracer", "ai", "@flue/opentelemetry"})

_Key = tuple[str, str, str]  # (project_id, trace_id, id)


class LogIO(Protocol):
    """Kept ``from_log`` records (``storage.clickhouse.log_io.LogIOStore``)."""

    def read(self, traces: Iterable[tuple[str, str]]) -> Mapping[_Key, list[ObservationRecord]]:
        """Kept records of the ``(project_id, trace_id)`` pairs, per observation, oldest first."""
        ...

    def keep(self, records: Sequence[ObservationRecord]) -> None:
        """Store ``records``; raises ``RetryableError``/``PermanentError``."""
        ...


def span_keeps_own_io(record: ObservationRecord) -> bool:
    """True when the span's own input/output precedes GenAI events in Langfuse's source order
    (module docstring)."""
    scope = record.scope_name
    return scope in _SCOPES_BEFORE_EVENTS or scope.startswith("langfuse-sdk")


def fold_log(target: ObservationRecord, log: ObservationRecord) -> None:
    """Apply the input/output of ``log`` to ``target`` in place (rule: module docstring). A
    side it sets on a span whose usage is estimated from input/output
    (``processors.enrich.estimates_usage``) clears ``target.enriched``: a span enriched by a
    receiver worker (``processors.batch.enrich_ahead``) then has its tokens estimated again."""
    keep_own = span_keeps_own_io(target)
    for side in ("input", "output"):
        if log.HasField(side) and not (keep_own and target.HasField(side)):
            setattr(target, side, getattr(log, side))
            if target.enriched and estimates_usage(target):
                target.enriched = False


def _key(record: ObservationRecord) -> _Key:
    return record.project_id, record.trace_id, record.id


def attach_log_records(
    records: Sequence[ObservationRecord], stored: StoredObservations, kept: LogIO
) -> list[ObservationRecord]:
    """``records`` without their ``from_log`` records, those folded onto the batch's spans or
    onto stored rows (appended, as full records); steps in the module docstring.

    Raises:
        RetryableError / PermanentError: from the reads and the keep (nothing is written then).
    """
    logs = [r for r in records if r.from_log]
    out = [r for r in records if not r.from_log] if logs else list(records)
    kept.keep(logs)
    candidates = [r for r in out if not (r.partial or r.trace_only) and r.project_id and r.trace_id]
    # The spans by key (the last of a repeated key) only when a kept or a batch log record
    # needs them: most batches have neither, and skip the dict.
    spans: dict[_Key, ObservationRecord] = {}
    if candidates:
        found = kept.read({(r.project_id, r.trace_id) for r in candidates})
        if found or logs:
            spans = {_key(r): r for r in candidates}
        if found:
            for key, span in spans.items():
                for log in found.get(key, ()):
                    fold_log(span, log)
    waiting: dict[_Key, list[ObservationRecord]] = {}
    for log in logs:
        if _key(log) not in spans:
            waiting.setdefault(_key(log), []).append(log)
    if not waiting:
        return out
    rows = stored.read(list({(project, obs_id) for project, _, obs_id in waiting}))
    for (project, trace, obs_id), group in waiting.items():
        row = next((c for c in rows.get((project, obs_id), []) if c.trace_id == trace), None)
        if row is None:
            continue  # the span is not stored yet: it takes the kept records when it arrives
        merged = ObservationRecord()
        merged.CopyFrom(row)
        for log in group:
            fold_log(merged, log)
        out.append(fold(merged, ()))
    return out


class LogMerge:
    """The log step of ``processors.merge.MergeThenEnrichAndWrite``: ``attach_log_records``
    over the stored observations and the kept log content."""

    def __init__(self, stored: StoredObservations, kept: LogIO) -> None:
        self._stored = stored
        self._kept = kept

    def __call__(self, records: Sequence[ObservationRecord]) -> list[ObservationRecord]:
        return attach_log_records(records, self._stored, self._kept)
