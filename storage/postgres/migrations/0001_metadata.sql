-- Projects, API keys, custom model prices (Langfuse semantics, docs/reference/langfuse.md §4.1) and
-- prompts. Runs with search_path = otelfuse inside one transaction.

CREATE TABLE projects (
    id          TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    public_key          TEXT NOT NULL UNIQUE,
    secret_hash         TEXT NOT NULL,             -- storage.auth.hash_secret
    display_secret_key  TEXT NOT NULL,             -- a short prefix, for listings only
    note                TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at        TIMESTAMPTZ,
    revoked_at          TIMESTAMPTZ
);
CREATE INDEX api_keys_project_id_idx ON api_keys (project_id);

-- project_id NULL: a global definition, used by every project after its own ones.
CREATE TABLE models (
    id                TEXT PRIMARY KEY,
    project_id        TEXT REFERENCES projects (id) ON DELETE CASCADE,
    model_name        TEXT NOT NULL,
    match_pattern     TEXT NOT NULL,               -- PostgreSQL regular expression
    start_date        TIMESTAMPTZ,
    unit              TEXT NOT NULL DEFAULT 'TOKENS' CHECK (unit IN
                          ('TOKENS', 'CHARACTERS', 'MILLISECONDS', 'SECONDS', 'REQUESTS', 'IMAGES')),
    tokenizer_id      TEXT,
    tokenizer_config  JSONB,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Langfuse's unique (project_id, model_name, start_date, unit), with NULLs equal (portable form
-- of NULLS NOT DISTINCT, which needs PostgreSQL 15).
CREATE UNIQUE INDEX models_identity_idx ON models
    (COALESCE(project_id, ''), model_name, COALESCE(start_date, '-infinity'::timestamptz), unit);
CREATE INDEX models_project_id_idx ON models (project_id);

CREATE TABLE pricing_tiers (
    id          TEXT PRIMARY KEY,
    model_id    TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT false,
    priority    INTEGER NOT NULL,
    conditions  JSONB NOT NULL DEFAULT '[]'::jsonb,
    UNIQUE (model_id, priority),
    UNIQUE (model_id, name)
);
CREATE UNIQUE INDEX pricing_tiers_one_default_idx ON pricing_tiers (model_id) WHERE is_default;

CREATE TABLE prices (
    id               TEXT PRIMARY KEY,
    model_id         TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    pricing_tier_id  TEXT NOT NULL REFERENCES pricing_tiers (id) ON DELETE CASCADE,
    usage_type       TEXT NOT NULL,
    price            NUMERIC NOT NULL CHECK (price >= 0),   -- USD per unit
    UNIQUE (model_id, usage_type, pricing_tier_id)
);
CREATE INDEX prices_pricing_tier_id_idx ON prices (pricing_tier_id);

CREATE TABLE prompts (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    version         INTEGER NOT NULL CHECK (version > 0),
    type            TEXT NOT NULL DEFAULT 'text' CHECK (type IN ('text', 'chat')),
    prompt          JSONB NOT NULL,               -- a string (text) or a message list (chat)
    config          JSONB NOT NULL DEFAULT '{}'::jsonb,
    labels          TEXT[] NOT NULL DEFAULT '{}',
    tags            TEXT[] NOT NULL DEFAULT '{}',
    commit_message  TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (project_id, name, version)
);

-- `subject ~ pattern` that is false instead of an error for an invalid pattern, so one bad
-- row (written around the API's validation) cannot break model matching for everyone.
CREATE FUNCTION regex_matches(subject TEXT, pattern TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN subject ~ pattern;
EXCEPTION WHEN invalid_regular_expression THEN
    RETURN false;
END
$$;
