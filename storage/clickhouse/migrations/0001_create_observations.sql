-- One row per observation (docs/reference/langfuse.md §2.2, with §2.4's DateTime64(6),
-- Decimal(18,12), trace-level and instrumentation columns). Rows are keyed by (project_id, start
-- day, trace_id, id): stable for a redelivered record, so ReplacingMergeTree keeps only the newest
-- event_ts. Reads use FINAL and `is_deleted = 0` (§2.7).
CREATE TABLE IF NOT EXISTS {database}.observations
(
    id String,
    trace_id String,
    project_id String,
    type LowCardinality(String),
    parent_observation_id Nullable(String),
    start_time DateTime64(6),
    end_time Nullable(DateTime64(6)),
    name String,
    metadata Map(LowCardinality(String), String),
    level LowCardinality(String),
    status_message Nullable(String),
    version Nullable(String),
    release Nullable(String),
    input Nullable(String) CODEC(ZSTD(3)),
    output Nullable(String) CODEC(ZSTD(3)),
    provided_model_name Nullable(String),
    internal_model_id Nullable(String),
    model_parameters Nullable(String),
    provided_usage_details Map(LowCardinality(String), UInt64),
    usage_details Map(LowCardinality(String), UInt64),
    provided_cost_details Map(LowCardinality(String), Decimal(18, 12)),
    cost_details Map(LowCardinality(String), Decimal(18, 12)),
    total_cost Nullable(Decimal(18, 12)),
    completion_start_time Nullable(DateTime64(6)),
    prompt_id Nullable(String),
    prompt_name Nullable(String),
    prompt_version Nullable(UInt32),
    usage_pricing_tier_id Nullable(String),
    usage_pricing_tier_name Nullable(String),
    usage_estimated Bool DEFAULT false,
    environment LowCardinality(String) DEFAULT 'default',
    -- trace-level fields set on this span itself (the merged trace lives in `traces`)
    is_root Bool DEFAULT false,
    trace_name Nullable(String),
    user_id Nullable(String),
    session_id Nullable(String),
    tags Array(String),
    -- instrumentation
    scope_name String,
    scope_version String,
    service_name String,
    service_version String,
    telemetry_sdk_language LowCardinality(String),
    telemetry_sdk_name String,
    telemetry_sdk_version String,
    ingestion_sdk_name LowCardinality(String),
    ingestion_sdk_version LowCardinality(String),
    -- bookkeeping: content_hash fingerprints the record so a redelivery is recognised and skipped
    content_hash UInt64 DEFAULT 0,
    created_at DateTime64(6) DEFAULT now64(6),
    updated_at DateTime64(6) DEFAULT now64(6),
    event_ts DateTime64(6),
    is_deleted UInt8 DEFAULT 0,
    INDEX idx_id id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_user_id user_id TYPE bloom_filter() GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter() GRANULARITY 1
)
ENGINE = ReplacingMergeTree(event_ts, is_deleted)
PARTITION BY toYYYYMM(start_time)
ORDER BY (project_id, toDate(start_time), trace_id, id);
