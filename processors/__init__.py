"""The processor: from records to stored, enriched observations.

Pipeline steps at the top level (``pipeline``, ``batching``, ``batch``, ``merge``, ``enrich``,
``usage``, ``tokens``, ``attributes``, ``telemetry``, ``postgres_enricher``); prices in
``processors.pricing``; the scale-out Kafka transport in ``processors.kafka``.
"""

__all__: list[str] = []
