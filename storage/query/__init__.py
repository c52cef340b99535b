"""Langfuse-compatible public read API over ClickHouse (langfuse-anchor.md §5).

- ``api``: ``query_routes(repo, keys)``, the Starlette routes (auth, errors, handlers);
- ``repository``: parameterised, project-scoped SQL for v1 traces/observations (``Repository``);
- ``params`` / ``values``: query-string parsing; ``shapes``: rows -> Langfuse JSON;
- ``filters`` + ``filter_columns``: the ``filter`` JSON parameter (data-driven whitelist);
- ``sql``: shared trusted SQL fragments (``Where``, usage/cost reductions);
- ``sessions``, ``observations_v2``, ``metrics_daily``, ``metrics`` + ``metrics_views``,
  ``deletion``: one module per endpoint family;
- ``openapi``: the OpenAPI 3.1 document served at ``/api/public/openapi.json``.
"""

from storage.query.api import query_routes
from storage.query.repository import Repository

__all__ = ["Repository", "query_routes"]
