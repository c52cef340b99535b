-- langfuse.internal.is_app_root (Langfuse events_full `is_app_root Bool DEFAULT false`,
-- docs/reference/langfuse.md §1.5): the first exported span of an application whose parent span
-- is elsewhere. GET /v2/observations reports it as a root observation (isRootObservation).
ALTER TABLE {database}.observations ADD COLUMN IF NOT EXISTS is_app_root Bool DEFAULT false AFTER is_root;
