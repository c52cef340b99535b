"""The read model of Langfuse's public API over ClickHouse (docs/reference/langfuse.md §5); no web
framework here: the routes live in ``ingest.api`` and call these modules.

- ``repository``: parameterised, project-scoped SQL for v1 traces/observations (``Repository``);
- ``params`` / ``values``: query-string parsing; ``shapes``: rows -> Langfuse JSON;
- ``filters`` + ``filter_columns``: the ``filter`` JSON parameter (data-driven whitelist);
- ``sql``: shared trusted SQL fragments (``Where``, usage/cost reductions);
- ``sessions``, ``observations_v2``, ``metrics_daily``, ``metrics`` + ``metrics_views``,
  ``deletion``, ``scores/``: one module per endpoint family;
- ``schemas``: the response models (msgspec) the shapes fill; the OpenAPI components derive
  from them (``ingest.http.openapi``).
"""

from storage.query.repository import Repository

__all__ = ["Repository"]
