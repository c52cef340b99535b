"""Langfuse's public API, one module per resource; every handler is thin: authenticate, parse
the request, call the read model (``storage.query``) or a sink, shape the answer.

| module          | routes                                                              |
|-----------------|---------------------------------------------------------------------|
| ``projects``    | ``GET /api/public/projects``                                        |
| ``traces``      | ``GET``/``DELETE /api/public/traces``, ``…/traces/{traceId}``        |
| ``observations``| ``GET /api/public/observations``, ``…/{observationId}``,              |
|                 | ``GET /api/public/v2/observations``                                 |
| ``sessions``    | ``GET /api/public/sessions``, ``…/sessions/{sessionId}``            |
| ``metrics``     | ``GET /api/public/metrics/daily``, ``/metrics``, ``/v2/metrics``    |
| ``scores``      | ``POST /api/public/scores``; ``GET /v2/scores``, ``/v2/scores/{id}``,|
|                 | ``GET /v3/scores``                                                  |
| ``models``      | ``/api/public/models`` CRUD (needs PostgreSQL)                      |
| ``prompts``     | ``/api/public/v2/prompts`` create, list, get, label update, delete  |
|                 | (needs PostgreSQL)                                                  |
| ``ingestion``   | ``POST /api/public/ingestion`` (the legacy batch endpoint)          |
| ``read``        | the read routes above as one list (query role, all-in-one)          |

Health, ``/api/public/openapi.json`` and ``/metrics`` come with every role's app
(``ingest.http.app``); errors are answered by its one exception-handler table
(``ingest.errors``), so handlers raise and never build error responses themselves. Shapes and
semantics follow Langfuse's API definition (langfuse/langfuse ``fern/apis/server``).
"""
