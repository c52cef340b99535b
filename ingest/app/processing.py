"""The process step for observation records, shared by the all-in-one pipeline and the
processor role's Kafka consumer: apply trace records, fold GenAI log content onto spans, merge
ingestion events onto stored rows, enrich (usage, tokens, cost), write."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ingest.app.clickhouse import Storage
from ingest.app.settings import Settings
from processors.batch import EnrichAndWrite
from processors.enrich import Enricher, default_enricher
from processors.log_merge import LogIO, LogMerge
from processors.merge import MergeThenEnrichAndWrite
from storage.clickhouse.log_io import LogIOStore, SoleWriterLogIO
from storage.clickhouse.observation_reader import ObservationReader
from storage.clickhouse.trace_filter import TraceKeyFilter
from storage.clickhouse.writer import ClickHouseWriter

if TYPE_CHECKING:
    from storage.postgres import PostgresRuntime

__all__ = ["enricher_for", "observation_step"]


async def enricher_for(settings: Settings, postgres: PostgresRuntime | None) -> Enricher:
    """``default_enricher``, or with PostgreSQL custom models first (then the catalog) and
    prompt ids (``processors.postgres_enricher``; cache TTL ``model_cache_ttl_s``)."""
    if postgres is None:
        return await asyncio.to_thread(default_enricher, settings.data_dir)
    from processors.postgres_enricher import postgres_enricher
    from storage.postgres.pool import LoopBridge

    bridge = LoopBridge(asyncio.get_running_loop())
    return await asyncio.to_thread(
        postgres_enricher,
        settings.data_dir,
        postgres.models,
        postgres.prompts,
        bridge,
        ttl_s=settings.model_cache_ttl_s,
    )


async def observation_step(
    settings: Settings,
    storage: Storage,
    postgres: PostgresRuntime | None,
    stack: contextlib.AsyncExitStack,
) -> tuple[MergeThenEnrichAndWrite, ClickHouseWriter]:
    """The process step and its writer, whose ``clear_cache`` a Kafka consumer calls after a
    partition assignment. What the step runs in the background stops when ``stack`` closes
    (push ``storage.close`` on it first, so it closes after).

    With embedded ClickHouse this process holds the data folder (chdb's lock), so it is the only
    writer of ``log_io`` and ``traces``: it may skip the read of traces without kept GenAI log
    records (``SoleWriterLogIO``) and that of traces never written (``TraceKeyFilter``, loaded
    in the background from now on). With a ClickHouse server other processes write them too
    (scale-out processors, between which Kafka partitions move on rebalance; an archive
    replay): every batch reads its traces' kept records (``LogIOStore``) and stored state."""
    database = settings.clickhouse.database
    known: TraceKeyFilter | None = None
    if storage.embedded:
        known = TraceKeyFilter(storage.client, database)
        known.start()
        stack.push_async_callback(asyncio.to_thread, known.close)
    writer = ClickHouseWriter(storage.client, database=database, known_traces=known)
    enricher = await enricher_for(settings, postgres)
    stored = ObservationReader(storage.client, database)
    store = LogIOStore(storage.client, database)
    kept: LogIO = SoleWriterLogIO(store) if storage.embedded else store
    logs = LogMerge(stored, kept)
    step = MergeThenEnrichAndWrite(EnrichAndWrite(enricher, writer), stored, writer, logs)
    return step, writer
