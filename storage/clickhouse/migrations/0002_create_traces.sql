-- One row per trace, merged from its observations by the writer
-- (docs/reference/langfuse.md §2.1, §1.6, §3.4). The sort and partition keys use only columns that
-- never change after the first write (project_id, id, created_at): a later batch may move
-- `timestamp` earlier, and a key change would leave two rows that ReplacingMergeTree cannot
-- collapse. Reads use FINAL and `is_deleted = 0`.
CREATE TABLE IF NOT EXISTS {database}.traces
(
    id String,
    project_id String,
    timestamp DateTime64(6),
    end_time Nullable(DateTime64(6)),
    name String,
    user_id Nullable(String),
    session_id Nullable(String),
    release Nullable(String),
    version Nullable(String),
    environment LowCardinality(String) DEFAULT 'default',
    public Bool DEFAULT false,
    bookmarked Bool DEFAULT false,
    tags Array(String),
    metadata Map(LowCardinality(String), String),
    input Nullable(String) CODEC(ZSTD(3)),
    output Nullable(String) CODEC(ZSTD(3)),
    created_at DateTime64(6) DEFAULT now64(6),
    updated_at DateTime64(6) DEFAULT now64(6),
    event_ts DateTime64(6),
    is_deleted UInt8 DEFAULT 0,
    INDEX idx_user_id user_id TYPE bloom_filter() GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter() GRANULARITY 1,
    INDEX idx_timestamp timestamp TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(event_ts, is_deleted)
PARTITION BY toYYYYMM(created_at)
ORDER BY (project_id, id);
