"""Langfuse's JSON ingestion bodies -> records (docs/reference/langfuse.md §3.2, §5): what
``POST /api/public/ingestion`` (``ingest.api.ingestion``) and ``POST /api/public/scores``
(``ingest.api.scores``) accept, validated and mapped, independent of HTTP.

Modules: ``values`` (JSON field validation: strings, ISO times, metadata, payloads),
``observations`` (observation event bodies → ``ObservationRecord``), ``traces`` (trace-create
bodies → trace-only records), ``scores`` (score bodies → ``ScoreRecord``), ``events``
(envelope validation, ordering, dispatch), ``telemetry`` (metrics).
"""
