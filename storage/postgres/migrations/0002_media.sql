-- Langfuse media (multi-modal uploads) and their trace / observation / field links, as in
-- Langfuse's PostgreSQL schema (langfuse/langfuse packages/shared/prisma/schema.prisma: Media,
-- TraceMedia, ObservationMedia). Runs with search_path = otelfuse inside one transaction.

-- One row per distinct content of a project: the id is derived from the content's SHA-256
-- (ingest/api/media.py), so the same bytes get the same id in every project.
CREATE TABLE media (
    project_id          TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    sha_256_hash        CHAR(44) NOT NULL,        -- base64 of the SHA-256 digest
    bucket_name         TEXT NOT NULL,            -- the S3 bucket, or 'local'
    bucket_path         TEXT NOT NULL,            -- blob key: <projectId>/<mediaId>.<ext>
    content_type        TEXT NOT NULL,
    content_length      BIGINT NOT NULL CHECK (content_length > 0),
    uploaded_at         TIMESTAMPTZ,
    upload_http_status  INTEGER,
    upload_http_error   TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, sha_256_hash)
);

CREATE TABLE trace_media (
    project_id  TEXT NOT NULL,
    trace_id    TEXT NOT NULL,
    media_id    TEXT NOT NULL,
    field       TEXT NOT NULL CHECK (field IN ('input', 'output', 'metadata')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, trace_id, media_id, field),
    FOREIGN KEY (project_id, media_id) REFERENCES media (project_id, id) ON DELETE CASCADE
);
CREATE INDEX trace_media_media_idx ON trace_media (project_id, media_id);

CREATE TABLE observation_media (
    project_id      TEXT NOT NULL,
    trace_id        TEXT NOT NULL,
    observation_id  TEXT NOT NULL,
    media_id        TEXT NOT NULL,
    field           TEXT NOT NULL CHECK (field IN ('input', 'output', 'metadata')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, trace_id, observation_id, media_id, field),
    FOREIGN KEY (project_id, media_id) REFERENCES media (project_id, id) ON DELETE CASCADE
);
CREATE INDEX observation_media_media_idx ON observation_media (project_id, media_id);
