-- Scores (docs/reference/langfuse.md §2.3, with DateTime64(6)). Nothing writes them yet; the table
-- is here so score ingestion and the score read API can land without a schema change.
CREATE TABLE IF NOT EXISTS {database}.scores
(
    id String,
    timestamp DateTime64(6),
    project_id String,
    environment LowCardinality(String) DEFAULT 'default',
    trace_id Nullable(String),
    session_id Nullable(String),
    observation_id Nullable(String),
    dataset_run_id Nullable(String),
    name String,
    value Float64,
    string_value Nullable(String),
    data_type LowCardinality(String),
    source LowCardinality(String),
    comment Nullable(String) CODEC(ZSTD(1)),
    metadata Map(LowCardinality(String), String),
    config_id Nullable(String),
    queue_id Nullable(String),
    author_user_id Nullable(String),
    created_at DateTime64(6) DEFAULT now64(6),
    updated_at DateTime64(6) DEFAULT now64(6),
    event_ts DateTime64(6),
    is_deleted UInt8 DEFAULT 0,
    INDEX idx_id id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_project_trace_observation (project_id, trace_id, observation_id)
        TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_project_session (project_id, session_id) TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(event_ts, is_deleted)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, toDate(timestamp), name, id);
