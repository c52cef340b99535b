from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TraceFields(_message.Message):
    __slots__ = ("is_root", "name", "user_id", "session_id", "tags", "public", "input", "output", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IS_ROOT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    is_root: bool
    name: str
    user_id: str
    session_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    public: bool
    input: str
    output: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, is_root: _Optional[bool] = ..., name: _Optional[str] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., public: _Optional[bool] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ObservationRecord(_message.Message):
    __slots__ = ("project_id", "id", "trace_id", "parent_observation_id", "type", "name", "environment", "start_time_us", "end_time_us", "completion_start_time_us", "level", "status_message", "version", "release", "input", "output", "metadata", "provided_model_name", "model_parameters", "provided_usage_details", "provided_cost_details", "prompt_name", "prompt_version", "trace", "scope_name", "scope_version", "service_name", "service_version", "telemetry_sdk_language", "telemetry_sdk_name", "telemetry_sdk_version", "ingestion_sdk_name", "ingestion_sdk_version", "is_app_root", "usage_details", "cost_details", "total_cost", "internal_model_id", "usage_pricing_tier_id", "usage_pricing_tier_name", "usage_estimated", "prompt_id", "partial", "trace_only", "from_log", "enriched")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ProvidedUsageDetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ProvidedCostDetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class UsageDetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class CostDetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_OBSERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_US_FIELD_NUMBER: _ClassVar[int]
    END_TIME_US_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_START_TIME_US_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PROVIDED_MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    PROVIDED_USAGE_DETAILS_FIELD_NUMBER: _ClassVar[int]
    PROVIDED_COST_DETAILS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_NAME_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_SDK_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_SDK_NAME_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    INGESTION_SDK_NAME_FIELD_NUMBER: _ClassVar[int]
    INGESTION_SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    IS_APP_ROOT_FIELD_NUMBER: _ClassVar[int]
    USAGE_DETAILS_FIELD_NUMBER: _ClassVar[int]
    COST_DETAILS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    USAGE_PRICING_TIER_ID_FIELD_NUMBER: _ClassVar[int]
    USAGE_PRICING_TIER_NAME_FIELD_NUMBER: _ClassVar[int]
    USAGE_ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_ID_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    TRACE_ONLY_FIELD_NUMBER: _ClassVar[int]
    FROM_LOG_FIELD_NUMBER: _ClassVar[int]
    ENRICHED_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    id: str
    trace_id: str
    parent_observation_id: str
    type: str
    name: str
    environment: str
    start_time_us: int
    end_time_us: int
    completion_start_time_us: int
    level: str
    status_message: str
    version: str
    release: str
    input: str
    output: str
    metadata: _containers.ScalarMap[str, str]
    provided_model_name: str
    model_parameters: str
    provided_usage_details: _containers.ScalarMap[str, int]
    provided_cost_details: _containers.ScalarMap[str, str]
    prompt_name: str
    prompt_version: int
    trace: TraceFields
    scope_name: str
    scope_version: str
    service_name: str
    service_version: str
    telemetry_sdk_language: str
    telemetry_sdk_name: str
    telemetry_sdk_version: str
    ingestion_sdk_name: str
    ingestion_sdk_version: str
    is_app_root: bool
    usage_details: _containers.ScalarMap[str, int]
    cost_details: _containers.ScalarMap[str, str]
    total_cost: str
    internal_model_id: str
    usage_pricing_tier_id: str
    usage_pricing_tier_name: str
    usage_estimated: bool
    prompt_id: str
    partial: bool
    trace_only: bool
    from_log: bool
    enriched: bool
    def __init__(self, project_id: _Optional[str] = ..., id: _Optional[str] = ..., trace_id: _Optional[str] = ..., parent_observation_id: _Optional[str] = ..., type: _Optional[str] = ..., name: _Optional[str] = ..., environment: _Optional[str] = ..., start_time_us: _Optional[int] = ..., end_time_us: _Optional[int] = ..., completion_start_time_us: _Optional[int] = ..., level: _Optional[str] = ..., status_message: _Optional[str] = ..., version: _Optional[str] = ..., release: _Optional[str] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., provided_model_name: _Optional[str] = ..., model_parameters: _Optional[str] = ..., provided_usage_details: _Optional[_Mapping[str, int]] = ..., provided_cost_details: _Optional[_Mapping[str, str]] = ..., prompt_name: _Optional[str] = ..., prompt_version: _Optional[int] = ..., trace: _Optional[_Union[TraceFields, _Mapping]] = ..., scope_name: _Optional[str] = ..., scope_version: _Optional[str] = ..., service_name: _Optional[str] = ..., service_version: _Optional[str] = ..., telemetry_sdk_language: _Optional[str] = ..., telemetry_sdk_name: _Optional[str] = ..., telemetry_sdk_version: _Optional[str] = ..., ingestion_sdk_name: _Optional[str] = ..., ingestion_sdk_version: _Optional[str] = ..., is_app_root: _Optional[bool] = ..., usage_details: _Optional[_Mapping[str, int]] = ..., cost_details: _Optional[_Mapping[str, str]] = ..., total_cost: _Optional[str] = ..., internal_model_id: _Optional[str] = ..., usage_pricing_tier_id: _Optional[str] = ..., usage_pricing_tier_name: _Optional[str] = ..., usage_estimated: _Optional[bool] = ..., prompt_id: _Optional[str] = ..., partial: _Optional[bool] = ..., trace_only: _Optional[bool] = ..., from_log: _Optional[bool] = ..., enriched: _Optional[bool] = ...) -> None: ...

class ObservationBatch(_message.Message):
    __slots__ = ("observations",)
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    observations: _containers.RepeatedCompositeFieldContainer[ObservationRecord]
    def __init__(self, observations: _Optional[_Iterable[_Union[ObservationRecord, _Mapping]]] = ...) -> None: ...

class ScoreRecord(_message.Message):
    __slots__ = ("project_id", "id", "timestamp_us", "trace_id", "session_id", "observation_id", "dataset_run_id", "name", "value", "string_value", "data_type", "source", "comment", "metadata", "config_id", "queue_id", "author_user_id", "environment")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_US_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OBSERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CONFIG_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_USER_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    id: str
    timestamp_us: int
    trace_id: str
    session_id: str
    observation_id: str
    dataset_run_id: str
    name: str
    value: float
    string_value: str
    data_type: str
    source: str
    comment: str
    metadata: _containers.ScalarMap[str, str]
    config_id: str
    queue_id: str
    author_user_id: str
    environment: str
    def __init__(self, project_id: _Optional[str] = ..., id: _Optional[str] = ..., timestamp_us: _Optional[int] = ..., trace_id: _Optional[str] = ..., session_id: _Optional[str] = ..., observation_id: _Optional[str] = ..., dataset_run_id: _Optional[str] = ..., name: _Optional[str] = ..., value: _Optional[float] = ..., string_value: _Optional[str] = ..., data_type: _Optional[str] = ..., source: _Optional[str] = ..., comment: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., config_id: _Optional[str] = ..., queue_id: _Optional[str] = ..., author_user_id: _Optional[str] = ..., environment: _Optional[str] = ...) -> None: ...

class ScoreBatch(_message.Message):
    __slots__ = ("scores",)
    SCORES_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.RepeatedCompositeFieldContainer[ScoreRecord]
    def __init__(self, scores: _Optional[_Iterable[_Union[ScoreRecord, _Mapping]]] = ...) -> None: ...

class ArchivedRequest(_message.Message):
    __slots__ = ("request_id", "project_id", "received_unix_nano", "kind", "transport", "content_type", "body", "sdk_name", "sdk_version")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ArchivedRequest.Kind]
        OTLP_TRACES: _ClassVar[ArchivedRequest.Kind]
        OTLP_LOGS: _ClassVar[ArchivedRequest.Kind]
        LANGFUSE_INGESTION: _ClassVar[ArchivedRequest.Kind]
        LANGFUSE_SCORES: _ClassVar[ArchivedRequest.Kind]
    KIND_UNSPECIFIED: ArchivedRequest.Kind
    OTLP_TRACES: ArchivedRequest.Kind
    OTLP_LOGS: ArchivedRequest.Kind
    LANGFUSE_INGESTION: ArchivedRequest.Kind
    LANGFUSE_SCORES: ArchivedRequest.Kind
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    SDK_NAME_FIELD_NUMBER: _ClassVar[int]
    SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    request_id: bytes
    project_id: str
    received_unix_nano: int
    kind: ArchivedRequest.Kind
    transport: str
    content_type: str
    body: bytes
    sdk_name: str
    sdk_version: str
    def __init__(self, request_id: _Optional[bytes] = ..., project_id: _Optional[str] = ..., received_unix_nano: _Optional[int] = ..., kind: _Optional[_Union[ArchivedRequest.Kind, str]] = ..., transport: _Optional[str] = ..., content_type: _Optional[str] = ..., body: _Optional[bytes] = ..., sdk_name: _Optional[str] = ..., sdk_version: _Optional[str] = ...) -> None: ...
