"""The JSON response shapes of the public read API, declared once as typed models.

Every response body (or item of one) is a ``msgspec.Struct``: the shaping functions
(``shapes``, ``sessions``, ``observations_v2``, ``metrics_daily``, ``scores.shapes``) build these
models and turn them into JSON-ready dicts with ``as_json``, and ``ingest.http.openapi`` derives the
component schemas of ``GET /api/public/openapi.json`` from the same classes with
``component_schemas``. A key is therefore written once, as a snake_case field name: JSON keys
are its camelCase form (``rename="camel"``), in field order (subclasses append their fields).

- a field without a default is always present (``required`` in the schema); ``X | None`` may be
  ``null``;
- a field defaulting to ``UNSET`` is omitted while unset (not ``required``): the optional field
  groups of ``ObservationV2`` / ``ScoreV3`` and the type-dependent ``value`` / ``stringValue`` of
  a score;
- objects are closed (``additionalProperties: false``) except ``Error``.

Names and fields follow Langfuse's public API definition (fern, ``fern/apis/server/definition``
in the langfuse/langfuse repository: ``trace.yml``, ``observations.yml``, ``sessions.yml``,
``metrics.yml``, ``score.yml``, ``commons.yml``, ``prompts.yml``, ``models.yml``) with otelfuse's
extras noted per class.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from storage.records import SCORE_DATA_TYPES, SCORE_SOURCES

__all__ = [
    "UNSET",
    "DailyMetrics",
    "DailyMetricsDetails",
    "Error",
    "GetMediaResponse",
    "GetMediaUploadUrlResponse",
    "Health",
    "IngestionError",
    "IngestionResult",
    "IngestionSuccess",
    "Message",
    "MetricsResponse",
    "Model",
    "ModelPrice",
    "Models",
    "ObservationUsage",
    "ObservationV2",
    "ObservationsV2Meta",
    "ObservationsV2Response",
    "ObservationsView",
    "ObservationsViews",
    "Organization",
    "PageMeta",
    "PricingTier",
    "Project",
    "Projects",
    "Prompt",
    "PromptMeta",
    "PromptMetaList",
    "ScoreCreated",
    "ScoreError",
    "ScoreSubject",
    "ScoreTraceSummary",
    "ScoreV1",
    "ScoreV2",
    "ScoreV2ListItem",
    "ScoreV3",
    "ScoresAccepted",
    "ScoresPartiallyAccepted",
    "ScoresV2",
    "ScoresV3",
    "ScoresV3Meta",
    "Session",
    "SessionWithTraces",
    "Sessions",
    "Trace",
    "TraceListItem",
    "TraceWithFullDetails",
    "Traces",
    "UnsetType",
    "UsageByModel",
    "as_json",
    "component_schemas",
    "json_keys",
]

Time = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
"""ISO-8601 UTC with microseconds and ``Z`` (``values.iso_time``)."""
Day = Annotated[str, Meta(extra_json_schema={"format": "date"})]
Seconds = Annotated[float | None, Meta(description="seconds")]
Usd = Annotated[float | None, Meta(description="USD")]
Count = Annotated[int, Meta(ge=0)]
ScoreSource = Annotated[str, Meta(extra_json_schema={"enum": sorted(SCORE_SOURCES)})]
ScoreDataType = Annotated[str, Meta(extra_json_schema={"enum": sorted(SCORE_DATA_TYPES)})]


class _Shape(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """Base of the closed response models (camelCase keys, keyword construction)."""


def as_json(value: msgspec.Struct) -> dict[str, Any]:
    """``value`` as a JSON-ready dict: camelCase keys in field order, ``UNSET`` fields left out.

    Nested models become dicts too; other values are passed through unchanged.
    """
    body: dict[str, Any] = msgspec.to_builtins(value)
    return body


def json_keys(model: type[msgspec.Struct]) -> tuple[str, ...]:
    """The JSON keys of ``model``, in order (the encoded names of its fields)."""
    return tuple(f.encode_name for f in msgspec.structs.fields(model))


def component_schemas(models: Iterable[type[msgspec.Struct]]) -> dict[str, dict[str, Any]]:
    """OpenAPI 3.1 component schemas of ``models`` and every model they reference, by class
    name, referencing each other as ``#/components/schemas/<name>``."""
    _, components = msgspec.json.schema_components(
        tuple(models), ref_template="#/components/schemas/{name}"
    )
    return components


# ---- common -------------------------------------------------------------------------------------


class PageMeta(_Shape):
    """``meta`` of page-paginated lists (fern ``utils/pagination.yml`` ``MetaResponse``)."""

    page: Annotated[int, Meta(ge=1)]
    limit: Annotated[int, Meta(ge=1)]
    total_items: Count
    total_pages: Count


class Error(msgspec.Struct, kw_only=True):
    """An error body: ``{"message"}`` (open: some producers add ``error``)."""

    message: str
    error: str | UnsetType = UNSET


class Message(_Shape):
    """A confirmation body: ``{"message"}``."""

    message: str


class Health(_Shape):
    """``GET /api/public/health`` (fern ``health.HealthResponse``)."""

    status: str
    version: str


class Organization(_Shape):
    """The organization of a project."""

    id: str
    name: str


class Project(_Shape):
    """A project (fern ``projects.Project``)."""

    id: str
    name: str
    organization: Organization
    metadata: dict[str, Any]


class Projects(_Shape):
    """``GET /api/public/projects``: the project of the API key."""

    data: list[Project]


# ---- media (fern media.yml) ---------------------------------------------------------------------


class GetMediaUploadUrlResponse(_Shape):
    """``POST /api/public/media``: the media id and where to PUT the bytes (null when this
    content is already uploaded for the project)."""

    upload_url: str | None
    media_id: str


class GetMediaResponse(_Shape):
    """``GET /api/public/media/{mediaId}``: the record and a download URL valid until
    ``urlExpiry``."""

    media_id: str
    content_type: str
    content_length: Count
    uploaded_at: Time | None
    url: str
    url_expiry: Time


# ---- scores (fern score.yml, score-v2.yml, scores-v3.yml, commons.yml) ----------------------


class ScoreV2(_Shape):
    """A Langfuse Score (v2); ``value`` is absent for TEXT, ``stringValue`` for NUMERIC."""

    id: str
    project_id: str
    trace_id: str | None
    session_id: str | None
    observation_id: str | None
    dataset_run_id: str | None
    name: str
    source: ScoreSource
    timestamp: Time
    created_at: Time
    updated_at: Time
    author_user_id: str | None
    comment: str | None
    metadata: dict[str, Any]
    config_id: str | None
    queue_id: str | None
    environment: str
    data_type: ScoreDataType
    value: float | UnsetType = UNSET
    string_value: str | UnsetType | None = UNSET


class ScoreV1(ScoreV2):
    """A score of ``GET /traces/{id}`` (fern ``commons.ScoreV1``); the fields of ``ScoreV2``."""


class ScoreTraceSummary(_Shape):
    """The ``trace`` of a ``GET /v2/scores`` item: the score's trace, summarised."""

    user_id: str | None
    tags: list[str]
    environment: str
    session_id: str | None


class ScoreV2ListItem(ScoreV2):
    """An item of ``GET /v2/scores``: ``ScoreV2`` + ``trace`` (with ``fields`` incl. trace)."""

    trace: ScoreTraceSummary | UnsetType | None = UNSET


class ScoresV2(_Shape):
    """``GET /api/public/v2/scores``."""

    data: list[ScoreV2ListItem]
    meta: PageMeta


class ScoreSubject(_Shape):
    """What a ``ScoreV3`` scores; ``traceId`` only for an observation."""

    kind: Literal["trace", "observation", "session", "experiment"]
    id: str
    trace_id: str | UnsetType | None = UNSET


class ScoreV3(_Shape):
    """A ScoreV3: the core fields plus the requested field groups (``details``: comment,
    configId, metadata; ``subject``; ``annotation``: authorUserId, queueId). ``value`` is a
    number (NUMERIC), a boolean (BOOLEAN) or the string value."""

    id: str
    project_id: str
    name: str
    value: float | bool | str | None
    data_type: ScoreDataType
    source: ScoreSource
    timestamp: Time
    environment: str
    created_at: Time
    updated_at: Time
    comment: str | UnsetType | None = UNSET
    config_id: str | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    subject: ScoreSubject | UnsetType | None = UNSET
    author_user_id: str | UnsetType | None = UNSET
    queue_id: str | UnsetType | None = UNSET


class ScoresV3Meta(_Shape):
    """``meta`` of ``GET /v3/scores``; ``cursor`` is absent on the last page."""

    limit: Annotated[int, Meta(ge=1)]
    cursor: str | UnsetType = UNSET


class ScoresV3(_Shape):
    """``GET /api/public/v3/scores``."""

    data: list[ScoreV3]
    meta: ScoresV3Meta


class ScoreCreated(_Shape):
    """``POST /api/public/scores`` with one score (fern ``score.CreateScoreResponse``)."""

    id: str


class ScoresAccepted(_Shape):
    """``POST /api/public/scores`` with an array, every score written."""

    message: Literal["Accepted"]


class ScoreError(_Shape):
    """A rejected score of an array: its index and why."""

    index: Count
    message: str


class ScoresPartiallyAccepted(_Shape):
    """``POST /api/public/scores`` with an array, some scores rejected (207)."""

    accepted: Count
    rejected: Count
    errors: list[ScoreError]


class IngestionSuccess(_Shape):
    """An accepted event of a batch (fern ``ingestion.IngestionSuccess``)."""

    id: str
    status: int


class IngestionError(_Shape):
    """A rejected event of a batch (fern ``ingestion.IngestionError``)."""

    id: str
    status: int
    message: str


class IngestionResult(_Shape):
    """``POST /api/public/ingestion`` (fern ``ingestion.IngestionResponse``)."""

    successes: list[IngestionSuccess]
    errors: list[IngestionError]


# ---- traces and observations (fern trace.yml, observations.yml, commons.yml) --------------------


class Trace(_Shape):
    """A Langfuse ``Trace`` plus ``externalId`` (always null), ``htmlPath`` and ``latency``."""

    id: str
    project_id: str
    timestamp: Time
    name: str | None
    input: Any
    output: Any
    session_id: str | None
    release: str | None
    version: str | None
    user_id: str | None
    metadata: dict[str, Any]
    tags: list[str]
    public: bool
    bookmarked: bool
    environment: str
    external_id: None
    created_at: Time
    updated_at: Time
    html_path: str
    latency: Annotated[float | None, Meta(description="seconds from first start to last end")]


class TraceListItem(Trace):
    """An item of ``GET /traces`` (fern ``TraceWithDetails``): observation and score ids."""

    total_cost: float
    observations: list[str]
    scores: list[str]


class ObservationUsage(_Shape):
    """The legacy ``usage`` of an observation (token counts, fern ``commons.Usage``)."""

    unit: str
    input: float
    output: float
    total: float


class ObservationsView(_Shape):
    """A Langfuse v1 ``ObservationsView`` plus ``usageEstimated``; usage/cost reductions as
    Langfuse's ``reduceUsageOrCostDetails``."""

    id: str
    project_id: str
    trace_id: str
    parent_observation_id: str | None
    name: str | None
    type: str
    environment: str
    start_time: Time
    end_time: Time | None
    completion_start_time: Time | None
    version: str | None
    release: str | None
    created_at: Time
    updated_at: Time
    input: Any
    output: Any
    metadata: dict[str, Any]
    level: str
    status_message: str | None
    model: str | None
    model_parameters: Any
    prompt_id: str | None
    prompt_name: str | None
    prompt_version: int | None
    usage_details: dict[str, int]
    cost_details: dict[str, float]
    usage: ObservationUsage
    unit: str
    prompt_tokens: float
    completion_tokens: float
    total_tokens: float
    usage_pricing_tier_id: str | None
    usage_pricing_tier_name: str | None
    model_id: str | None
    input_price: float | None
    output_price: float | None
    total_price: float | None
    calculated_input_cost: float | None
    calculated_output_cost: float | None
    calculated_total_cost: float | None
    total_cost: Usd
    latency: Seconds
    time_to_first_token: Seconds
    usage_estimated: bool


class TraceWithFullDetails(Trace):
    """``GET /traces/{id}``: the trace, its observations and its scores."""

    total_cost: float
    observations: list[ObservationsView]
    scores: list[ScoreV1]


class Traces(_Shape):
    """``GET /api/public/traces``."""

    data: list[TraceListItem]
    meta: PageMeta


class ObservationsViews(_Shape):
    """``GET /api/public/observations``."""

    data: list[ObservationsView]
    meta: PageMeta


class ObservationV2(_Shape):
    """An item of ``GET /v2/observations``: the ``core`` keys plus those of the requested field
    groups (``observations_v2.FIELD_GROUPS``, in this order). ``input``/``output`` are the
    stored text; prices are decimal strings."""

    id: str
    trace_id: str
    start_time: Time
    end_time: Time | None
    project_id: str
    parent_observation_id: str | None
    type: str
    name: str | UnsetType | None = UNSET
    level: str | UnsetType = UNSET
    status_message: str | UnsetType | None = UNSET
    version: str | UnsetType | None = UNSET
    environment: str | UnsetType = UNSET
    bookmarked: bool | UnsetType = UNSET
    public: bool | UnsetType = UNSET
    user_id: str | UnsetType | None = UNSET
    session_id: str | UnsetType | None = UNSET
    is_root_observation: bool | UnsetType = UNSET
    completion_start_time: Time | UnsetType | None = UNSET
    created_at: Time | UnsetType = UNSET
    updated_at: Time | UnsetType = UNSET
    input: str | UnsetType | None = UNSET
    output: str | UnsetType | None = UNSET
    metadata: dict[str, str] | UnsetType = UNSET
    provided_model_name: str | UnsetType | None = UNSET
    internal_model_id: str | UnsetType | None = UNSET
    model_parameters: Any = UNSET
    model_id: str | UnsetType | None = UNSET
    input_price: str | UnsetType | None = UNSET
    output_price: str | UnsetType | None = UNSET
    total_price: str | UnsetType | None = UNSET
    usage_details: dict[str, int] | UnsetType = UNSET
    cost_details: dict[str, float] | UnsetType = UNSET
    total_cost: float | UnsetType | None = UNSET
    usage_pricing_tier_name: str | UnsetType | None = UNSET
    prompt_id: str | UnsetType | None = UNSET
    prompt_name: str | UnsetType | None = UNSET
    prompt_version: int | UnsetType | None = UNSET
    latency: float | UnsetType | None = UNSET
    time_to_first_token: float | UnsetType | None = UNSET
    tags: list[str] | UnsetType = UNSET
    release: str | UnsetType | None = UNSET
    trace_name: str | UnsetType | None = UNSET


class ObservationsV2Meta(_Shape):
    """``meta`` of ``GET /v2/observations``; ``cursor`` is absent on the last page."""

    cursor: str | UnsetType = UNSET


class ObservationsV2Response(_Shape):
    """``GET /api/public/v2/observations``."""

    data: list[ObservationV2]
    meta: ObservationsV2Meta


# ---- sessions and metrics (fern sessions.yml, metrics.yml) --------------------------------------


class Session(_Shape):
    """A Langfuse ``Session`` (derived from its traces' ``session_id``)."""

    id: str
    created_at: Time
    project_id: str
    environment: str


class SessionWithTraces(Session):
    """``GET /sessions/{id}``: the session and every trace of it, oldest first."""

    traces: list[Trace]


class Sessions(_Shape):
    """``GET /api/public/sessions``."""

    data: list[Session]
    meta: PageMeta


class UsageByModel(_Shape):
    """Usage and cost of one model on one day (fern ``metrics.UsageByModel``)."""

    model: str
    input_usage: int
    output_usage: int
    total_usage: int
    count_observations: int
    count_traces: int
    total_cost: float


class DailyMetricsDetails(_Shape):
    """One day of ``GET /metrics/daily`` (fern ``metrics.DailyMetricsDetails``)."""

    date: Day
    count_traces: int
    count_observations: int
    total_cost: float
    usage: list[UsageByModel]


class DailyMetrics(_Shape):
    """``GET /api/public/metrics/daily``."""

    data: list[DailyMetricsDetails]
    meta: PageMeta


class MetricsResponse(_Shape):
    """``GET /api/public/metrics`` and ``/v2/metrics``: rows keyed by dimension field, the time
    bucket (``time_dimension``) and ``<aggregation>_<measure>``."""

    data: list[dict[str, Any]]


# ---- prompts (fern prompts.yml, prompt-version.yml) ---------------------------------------------

PromptContent = Annotated[
    str | list[dict[str, str]],
    Meta(
        description='text: a string; chat: messages {"role", "content"} and placeholders'
        ' {"type": "placeholder", "name"}'
    ),
]


class Prompt(_Shape):
    """One prompt version (fern ``prompts.Prompt``: ``TextPrompt`` or ``ChatPrompt`` by
    ``type``), with the stored row's fields Langfuse also returns (``id``, ``createdAt``,
    ``updatedAt``, ``projectId``, ``createdBy``). ``resolutionGraph`` is always null: otelfuse
    does not resolve prompt dependencies."""

    id: str
    created_at: Time
    updated_at: Time
    project_id: str
    created_by: str
    name: str
    version: Annotated[int, Meta(ge=1)]
    type: Literal["text", "chat"]
    prompt: PromptContent
    config: Any
    labels: list[str]
    tags: list[str]
    commit_message: str | None
    resolution_graph: dict[str, Any] | None


class PromptMeta(_Shape):
    """One prompt name in ``GET /api/public/v2/prompts`` (fern ``prompts.PromptMeta``): the
    versions matching the filters, their labels, and the type and config of the newest one."""

    name: str
    type: Literal["text", "chat"]
    versions: list[int]
    labels: list[str]
    tags: list[str]
    last_updated_at: Time
    last_config: Any


class PromptMetaList(_Shape):
    """``GET /api/public/v2/prompts`` (fern ``prompts.PromptMetaListResponse``); Langfuse repeats
    ``meta`` as ``pagination`` for clients of its first release (langfuse/langfuse issue #2068)."""

    data: list[PromptMeta]
    meta: PageMeta
    pagination: PageMeta


# ---- models (custom model definitions) ----------------------------------------------------------

ModelUnit = Annotated[
    str,
    Meta(
        extra_json_schema={
            "enum": ["TOKENS", "CHARACTERS", "MILLISECONDS", "SECONDS", "REQUESTS", "IMAGES"]
        }
    ),
]
PricingCondition = Annotated[
    dict[str, Any],
    Meta(
        description=(
            "Langfuse's usage condition {usageDetailPattern, operator (gt, gte, lt, lte, eq, "
            "neq), value, caseSensitive}, or otelfuse's parameter condition {source "
            "(model_parameters or metadata), key, operator: in, values}"
        )
    ),
]


class ModelPrice(_Shape):
    """One price of ``Model.prices`` (fern ``models.ModelPrice``): USD per unit."""

    price: float


class PricingTier(_Shape):
    """A pricing tier (fern ``models.PricingTier``): the default tier has priority 0 and no
    conditions; otherwise the tier of lowest priority whose conditions all hold prices the
    generation. ``prices``: usage key -> USD per unit."""

    id: str
    name: str
    is_default: bool
    priority: Annotated[int, Meta(ge=0)]
    conditions: list[PricingCondition]
    prices: dict[str, float]


class Model(_Shape):
    """A model definition (fern ``models.Model``): ``inputPrice``, ``outputPrice``,
    ``totalPrice`` and ``prices`` are the default tier's; ``isLangfuseManaged`` marks a global
    definition (readable by every project, changed only with the ``otelfuse models`` CLI)."""

    id: str
    model_name: str
    match_pattern: str
    start_date: Time | None
    unit: ModelUnit
    input_price: float | None
    output_price: float | None
    total_price: float | None
    tokenizer_id: Literal["openai", "claude"] | None
    tokenizer_config: Any
    is_langfuse_managed: bool
    created_at: Time
    prices: dict[str, ModelPrice]
    pricing_tiers: list[PricingTier]


class Models(_Shape):
    """``GET /api/public/models`` (fern ``models.PaginatedModels``)."""

    data: list[Model]
    meta: PageMeta
