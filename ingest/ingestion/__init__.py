"""Langfuse's JSON ingestion APIs (langfuse-anchor.md §3.2, §5): the legacy batch endpoint
``POST /api/public/ingestion`` and the helpers it shares with ``POST /api/public/scores``
(``ingest.scores``).

Modules: ``values`` (JSON field validation: strings, ISO times, metadata, payloads), ``http``
(body reading, auth, JSON responses), ``observations`` (observation event bodies →
``ObservationRecord``), ``traces`` (trace-create bodies → trace-only records), ``events``
(envelope validation, ordering, dispatch), ``endpoint`` (the route, 207 response),
``telemetry`` (metrics). Nothing is imported here, so ``ingest.scores`` can use the helpers
without an import cycle.
"""
