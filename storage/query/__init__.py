"""The read model of Langfuse's public API over ClickHouse (docs/reference/langfuse.md §5); no
web framework here: the routes live in ``ingest.api`` and call these modules.

One module per resource, each with its filter parsing, its project-scoped parameterised SQL and
its shapes (rows -> Langfuse JSON):

- ``traces``, ``observations`` (v1), ``observations_v2``, ``sessions``, ``metrics_daily``,
  ``metrics`` (+ ``metrics_views``), ``scores/`` (v2 and v3 reads), ``deletion``;

and what they share:

- ``repository``: the client, the database and row counts (``Repository``);
- ``params`` / ``values``: pagination, typed query-string helpers, ``BadRequest``, times;
- ``sql``: ``Where`` (the one condition builder) and usage/cost reductions;
- ``filters`` + ``filter_columns``: the ``filter`` JSON parameter (data-driven whitelist);
- ``shapes``: value conversions; ``schemas``: the response models (msgspec) the shapes fill,
  from which the OpenAPI components derive (``ingest.http.openapi``).
"""

from storage.query.repository import Repository

__all__ = ["Repository"]
