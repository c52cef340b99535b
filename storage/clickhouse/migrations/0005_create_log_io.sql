-- Input/output of GenAI event log records (docs/mapping.md "GenAI
-- event log records", storage/clickhouse/log_io.py): every such record is kept here for
-- 7 days and folded onto its span whenever the span is written (first arrival or a resend). One
-- row per distinct content of one span (`key`), so a resent export replaces its row. A small
-- index granularity keeps the per-batch lookup by trace id from reading unrelated content.
CREATE TABLE IF NOT EXISTS {database}.log_io
(
    project_id String,
    trace_id String,
    id String,
    key String,
    input Nullable(String) CODEC(ZSTD(1)),
    output Nullable(String) CODEC(ZSTD(1)),
    received_at DateTime64(6),
    event_ts DateTime64(6),
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(event_ts, is_deleted)
ORDER BY (project_id, trace_id, id, key)
TTL toDateTime(received_at) + INTERVAL 7 DAY
SETTINGS index_granularity = 256;
