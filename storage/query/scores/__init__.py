"""Score read API (docs/reference/langfuse.md §5 Score v2, GET /v2/scores, GET /v3/scores).

Routes (``Authorization: Basic``, project-scoped; served by ``ingest.api.scores``):

- ``GET /api/public/v2/scores`` -> ``{"data": [Score + "trace"], "meta": {page, limit,
  totalItems, totalPages}}``. Query: page, limit (1..100), userId, name, fromTimestamp (>=),
  toTimestamp (<), environment (repeatable), source, operator (< > <= >= = !=) + value,
  scoreIds (csv), configId, queueId, datasetRunId, sessionId, traceId, observationId (csv),
  dataType, traceTags (repeatable, all must match), fields (``score,trace``, default both).
  Newest first. ``trace`` is ``{userId, tags, environment, sessionId}`` (null without a trace).
- ``GET /api/public/v2/scores/{scoreId}`` -> Score.
- ``GET /api/public/v3/scores`` (what the Langfuse Python SDK 5's ``api.scores.get_many``
  calls) -> ``{"data": [ScoreV3], "meta": {"limit", "cursor"?}}``, newest first, cursor =
  base64url JSON of the last item's ``(timestamp, id)``. Query: limit (1..100), cursor, fields
  (``details,subject,annotation``), csv filters id, name, source, dataType, environment,
  configId, queueId, authorUserId, value (needs one dataType of NUMERIC/BOOLEAN/CATEGORICAL),
  valueMin/valueMax (NUMERIC), traceId, sessionId, observationId (needs traceId),
  experimentId (= datasetRunId), fromTimestamp (>=), toTimestamp (<).

Score v2 JSON: ``id, projectId, traceId, sessionId, observationId, datasetRunId, name, source,
timestamp, createdAt, updatedAt, authorUserId, comment, metadata, configId, queueId,
environment, dataType`` + ``value`` (not for TEXT) + ``stringValue`` (not for NUMERIC).
ScoreV3: core ``id, projectId, name, value, dataType, source, timestamp, environment,
createdAt, updatedAt`` with ``value`` a number (NUMERIC), a boolean (BOOLEAN) or a string.

All SQL is parameterised (``{name:Type}``); reads use ``FINAL`` and ``is_deleted = 0``. Errors
are ``{"message"}``: 400 bad parameter, 401, 404, 503 + ``Retry-After``, 500. Not supported
yet: the ``filter`` JSON parameter (ignored).
"""

from storage.query.scores.params import ScoreFilter, V3Query, parse_score_filter, parse_v3_query
from storage.query.scores.repository import ScoreRepository
from storage.query.scores.shapes import score_v1_json, score_v2_json, score_v3_json

__all__ = [
    "ScoreFilter",
    "ScoreRepository",
    "V3Query",
    "parse_score_filter",
    "parse_v3_query",
    "score_v1_json",
    "score_v2_json",
    "score_v3_json",
]
