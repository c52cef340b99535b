"""Langfuse-compatible public read API over ClickHouse (langfuse-anchor.md §5).

- ``repository``: parameterised, project-scoped SQL (``Repository``);
- ``params``: query-string parsing; ``shapes``: rows -> Langfuse JSON;
- ``api``: ``query_routes(repo, keys)``, the Starlette routes.
"""

from storage.query.api import query_routes
from storage.query.repository import Repository

__all__ = ["Repository", "query_routes"]
