"""Settings of every role: the components' own configs, composed, loaded from ``OTELFUSE_*``
environment variables and an optional TOML file.

Each component owns its config dataclass and its defaults (one default per knob):

| field          | config                                   | defined in                        |
|----------------|------------------------------------------|-----------------------------------|
| ``server``     | ``ServerConfig`` (listen addresses, body limit) | this module                |
| ``clickhouse`` | ``ClickHouseConfig``                     | ``storage.clickhouse.config``     |
| ``postgres``   | ``PostgresConfig``                       | ``storage.postgres.config``       |
| ``blobs``      | ``BlobConfig`` (+ ``S3Config``)          | ``storage.blobs.config``          |
| ``media``      | ``MediaConfig``                          | ``ingest.api.media_types``        |
| ``init_project`` | ``InitProject``                        | ``storage.postgres.config``       |
| ``pipeline``   | ``PipelineConfig`` (+ ``BatchConfig``)   | ``processors.pipeline``           |
| ``publisher``  | ``PublisherConfig`` (Kafka producer)     | ``processors.kafka.config``       |
| ``consumer``   | ``ConsumerConfig`` (Kafka consumer)      | ``processors.kafka.config``       |
| ``memory``     | ``MemoryLimiterConfig`` (memory budget)  | ``ingest.memory_limiter``         |
| ``archive``    | ``ArchiveConfig`` (raw request archive)  | ``storage.archive.config``        |

The documented variables stay flat (``VARIABLES``): ``OTELFUSE_<NAME>``, or the key ``<name>``
at the top level of the TOML file named by ``OTELFUSE_CONFIG_FILE`` / ``otelfuse --config``
(the environment wins). One variable may set several components' fields
(``OTELFUSE_KAFKA_BOOTSTRAP_SERVERS`` sets the producer's and the consumer's brokers); its
default is the first field's default. Addresses bind to loopback unless configured, as the
collector's otlpreceiver does. ``Settings.load`` raises ``ConfigError`` naming the variable and
the bad value.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.api.media_types import MediaConfig
from ingest.memory_limiter import MemoryLimiterConfig
from processors.kafka.config import ConsumerConfig, PublisherConfig
from processors.pipeline import PipelineConfig
from processors.pricing.postgres import DEFAULT_MODEL_CACHE_TTL_S
from storage.archive.config import ArchiveConfig
from storage.blobs.config import BlobConfig
from storage.clickhouse.config import ClickHouseConfig
from storage.postgres.config import InitProject, PostgresConfig

__all__ = [
    "VARIABLES",
    "ConfigError",
    "ServerConfig",
    "Settings",
    "Variable",
    "available_cpus",
    "split_address",
]

DEFAULT_GRPC_ADDRESS = "127.0.0.1:4317"
DEFAULT_HTTP_ADDRESS = "127.0.0.1:4318"
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # OTLP spec RECOMMENDED 64 MiB, after decompression


class ConfigError(ValueError):
    """A setting has a value otelfuse cannot use; the message names the variable."""


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
"""cgroup v2: the container's CPU quota, ``"<quota> <period>"`` in microseconds, or ``max``."""


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use, at least 1: the CPUs it may run on
    (``os.sched_getaffinity``: taskset, cpuset), or fewer when the cgroup v2 CPU quota
    (``cpu.max``, what ``docker run --cpus`` and a Kubernetes CPU limit set) allows less,
    rounded up (a quota of 1.5 CPUs gives 2). The default of ``OTELFUSE_WORKERS``."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 CPU controller here: the affinity mask alone
    return max(cpus, 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Where a role listens and how large a request may be."""

    grpc_address: str = DEFAULT_GRPC_ADDRESS
    """host:port of the OTLP/gRPC receiver."""
    http_address: str = DEFAULT_HTTP_ADDRESS
    """host:port of the role's HTTP server: OTLP/HTTP, Langfuse API, /metrics, health."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """Largest accepted request body in bytes, checked before and after decompression."""
    workers: int = field(default_factory=available_cpus)
    """All-in-one only: receiver worker processes serving the OTLP exports on both ports
    (``ingest.app.workers``); 1 serves everything in the one process. Default: the CPUs this
    process may use (``available_cpus``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Settings of all roles (module docstring)."""

    data_dir: Path = Path("./data")
    """Folder for embedded ClickHouse, the generated project key and tokenizer files."""
    log_level: str = "INFO"
    server: ServerConfig = field(default_factory=ServerConfig)
    clickhouse: ClickHouseConfig = field(default_factory=ClickHouseConfig)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    blobs: BlobConfig = field(default_factory=BlobConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    init_project: InitProject = field(default_factory=InitProject)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    publisher: PublisherConfig = field(default_factory=PublisherConfig)
    consumer: ConsumerConfig = field(default_factory=ConsumerConfig)
    memory: MemoryLimiterConfig = field(default_factory=MemoryLimiterConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    model_cache_ttl_s: float = DEFAULT_MODEL_CACHE_TTL_S
    """With PostgreSQL: seconds a custom-model match or prompt id is reused (a model change
    applies to generations processed this long after it)."""

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, config_file: Path | None = None
    ) -> Settings:
        """Build settings from the environment (``os.environ`` by default) and a TOML file.

        Raises:
            ConfigError: a value has the wrong type or range, an address is not host:port,
                the file is unreadable or holds an unknown key.
        """
        env = os.environ if env is None else env
        file_path = config_file or (
            Path(env["OTELFUSE_CONFIG_FILE"]) if env.get("OTELFUSE_CONFIG_FILE") else None
        )
        from_file = _read_toml(file_path) if file_path else {}
        unknown = sorted(set(from_file) - {v.name for v in VARIABLES})
        if unknown:
            raise ConfigError(f"unknown setting(s) in {file_path}: {', '.join(unknown)}")
        defaults = cls()
        values: dict[str, Any] = {}
        for variable in VARIABLES:
            default = variable.default(defaults)
            if variable.env in env:
                values[variable.name] = _parse(variable, env[variable.env], default)
            elif variable.name in from_file:
                values[variable.name] = _parse(variable, from_file[variable.name], default)
        queue = values.get("queue_max_records")
        if "batch_max_records" not in values and isinstance(queue, int) and queue >= 1:
            # A queue set below the default batch size, with the batch size left alone, caps
            # the batches (so a queue valid with the old 5,000 default stays valid).
            default_batch = VARIABLES_BY_NAME["batch_max_records"].default(defaults)
            if queue < default_batch:
                values["batch_max_records"] = queue
        _validate({v.name: values.get(v.name, v.default(defaults)) for v in VARIABLES})
        overrides: dict[str, Any] = {}
        for variable in VARIABLES:
            if variable.name in values:
                for target in variable.targets:
                    _nest(overrides, target.split("."), values[variable.name])
        settings: Settings = _build(defaults, overrides, "")
        return settings.resolved()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """``load`` without an explicit file (``OTELFUSE_CONFIG_FILE`` is still honoured)."""
        return cls.load(env)

    def resolved(self) -> Settings:
        """These settings with the ClickHouse database taken from ``clickhouse.url`` when the
        URL names one.

        Raises:
            ConfigError: the URL is not usable.
        """
        if not self.clickhouse.url:
            return self
        from storage.clickhouse import database_for
        from storage.errors import PermanentError

        try:
            database = database_for(self.clickhouse.url, self.clickhouse.database)
        except PermanentError as exc:
            raise ConfigError(f"OTELFUSE_CLICKHOUSE_URL: {exc}") from None
        clickhouse = dataclasses.replace(self.clickhouse, database=database)
        return dataclasses.replace(self, clickhouse=clickhouse)


@dataclass(frozen=True, slots=True)
class Variable:
    """One documented setting: ``OTELFUSE_<NAME>`` / TOML key ``name``, and the fields of
    ``Settings`` it sets (dotted paths). A number must be positive, or with ``zero`` at
    least 0 (where 0 has a documented meaning)."""

    name: str
    targets: tuple[str, ...]
    zero: bool = False

    @property
    def env(self) -> str:
        """The environment variable."""
        return f"OTELFUSE_{self.name.upper()}"

    def default(self, settings: Settings) -> Any:
        """The value of the first target in ``settings``."""
        value: Any = settings
        for part in self.targets[0].split("."):
            value = getattr(value, part)
        return value


VARIABLES: tuple[Variable, ...] = (
    Variable("data_dir", ("data_dir",)),
    Variable("grpc_address", ("server.grpc_address",)),
    Variable("http_address", ("server.http_address",)),
    Variable("max_request_bytes", ("server.max_request_bytes",)),
    Variable("workers", ("server.workers",)),
    Variable("queue_max_records", ("pipeline.max_queued_records",)),
    Variable("memory_limit_mib", ("memory.limit_mib",), zero=True),  # 0: the percentage
    Variable("memory_limit_percentage", ("memory.limit_percentage",), zero=True),  # 0: off
    Variable("memory_spike_limit_mib", ("memory.spike_limit_mib",), zero=True),  # 0: 20 %
    Variable("batch_max_records", ("pipeline.batch.max_records", "consumer.batch.max_records")),
    Variable("batch_timeout_ms", ("pipeline.batch.timeout_ms", "consumer.batch.timeout_ms")),
    Variable("clickhouse_url", ("clickhouse.url",)),
    Variable("clickhouse_database", ("clickhouse.database",)),
    Variable(
        "kafka_bootstrap_servers", ("publisher.bootstrap_servers", "consumer.bootstrap_servers")
    ),
    Variable("kafka_observations_topic", ("publisher.topic", "consumer.observations_topic")),
    Variable("kafka_scores_topic", ("publisher.scores_topic", "consumer.scores_topic")),
    Variable("kafka_dead_letter_topic", ("consumer.dead_letter_topic",)),
    Variable("kafka_consumer_group", ("consumer.group_id",)),
    Variable("kafka_max_message_bytes", ("publisher.max_message_bytes",)),
    Variable("kafka_compression", ("publisher.compression",)),
    Variable("kafka_delivery_timeout_ms", ("publisher.delivery_timeout_ms",)),
    Variable("kafka_enable_idempotence", ("publisher.enable_idempotence",)),
    Variable("init_project_id", ("init_project.project_id",)),
    Variable("init_project_public_key", ("init_project.public_key",)),
    Variable("init_project_secret_key", ("init_project.secret_key",)),
    Variable("postgres_url", ("postgres.url",)),
    Variable("auth_cache_ttl_s", ("postgres.auth_cache_ttl_s",)),
    Variable("model_cache_ttl_s", ("model_cache_ttl_s",)),
    Variable("blob_backend", ("blobs.backend",)),
    Variable("s3_endpoint", ("blobs.s3.endpoint",)),
    Variable("s3_bucket", ("blobs.s3.bucket",)),
    Variable("s3_prefix", ("blobs.s3.prefix",)),
    Variable("s3_region", ("blobs.s3.region",)),
    Variable("s3_access_key", ("blobs.s3.access_key",)),
    Variable("s3_secret_key", ("blobs.s3.secret_key",)),
    Variable("s3_force_path_style", ("blobs.s3.force_path_style",)),
    Variable("s3_max_concurrency", ("blobs.s3.max_concurrency",)),
    Variable("blob_offload_bytes", ("blobs.offload.offload_bytes",)),
    Variable("blob_resolve_max_bytes", ("blobs.offload.resolve_max_bytes",)),
    Variable("media_max_content_length", ("media.max_content_length",)),
    Variable("media_download_url_expiry_s", ("media.download_url_expiry_s",)),
    Variable("media_signing_key", ("media.signing_key",)),
    Variable("archive_enabled", ("archive.enabled",)),
    Variable("archive_object_max_bytes", ("archive.object_max_bytes",)),
    Variable("archive_object_max_age_s", ("archive.object_max_age_s",)),
    Variable("archive_queue_max_bytes", ("archive.queue_max_bytes",)),
    Variable("archive_retention_days", ("archive.retention_days",)),
    Variable("archive_exclude_projects", ("archive.exclude_projects",)),
    Variable("kafka_raw_topic", ("archive.raw_topic",)),
    Variable("kafka_archiver_group", ("archive.archiver_group",)),
    Variable("log_level", ("log_level",)),
)
"""Every documented setting (README "Configuration"), in the README's order."""

VARIABLES_BY_NAME: Mapping[str, Variable] = {v.name: v for v in VARIABLES}
"""``VARIABLES`` by setting name."""


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` -> ``(host, port)`` (brackets of an IPv6 host removed)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _nest(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


def _build(obj: Any, overrides: Mapping[str, Any], path: str) -> Any:
    """``obj`` (the config at the dotted ``path``) with ``overrides`` applied, inner configs
    first, each built once.

    Raises:
        ConfigError: the config's own check refused a value; a message that starts with a
            field name (``field=...`` or ``field must ...``) names its variable instead.
    """
    changes = {
        name: _build(getattr(obj, name), value, f"{path}{name}.")
        if isinstance(value, dict)
        else value
        for name, value in overrides.items()
    }
    try:
        return dataclasses.replace(obj, **changes)
    except ValueError as exc:
        message = str(exc)
        field = _FIELD.match(message)
        for variable in VARIABLES:
            if field is not None and f"{path}{field.group(1)}" in variable.targets:
                message = variable.env + message[field.end(1) :]
                break
        raise ConfigError(message) from None


_FIELD = re.compile(r"^([a-z_]+)\b")


def _validate(values: Mapping[str, Any]) -> None:
    """Checks that span components (or that no component makes), with messages naming the
    variables; each component checks its own fields when it is built (``_build``)."""
    for name in ("grpc_address", "http_address"):
        host, sep, port = str(values[name]).rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"OTELFUSE_{name.upper()}={values[name]!r} is not host:port")
    if values["batch_max_records"] > values["queue_max_records"]:
        raise ConfigError("OTELFUSE_BATCH_MAX_RECORDS must not exceed OTELFUSE_QUEUE_MAX_RECORDS")
    init = [values["init_project_id"], values["init_project_public_key"]]
    init.append(values["init_project_secret_key"])
    if any(init) and not all(init):
        raise ConfigError(
            "set all of OTELFUSE_INIT_PROJECT_ID, _PUBLIC_KEY and _SECRET_KEY, or none"
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc}") from exc


def _parse(variable: Variable, raw: object, default: object) -> object:
    """Convert ``raw`` (env string or TOML value) to the type of ``default``."""
    name = variable.env
    text = str(raw).strip()
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r} is not a boolean")
    if isinstance(default, int | float):
        try:
            value: int | float = int(text) if isinstance(default, int) else float(text)
        except ValueError:
            kind = "an integer" if isinstance(default, int) else "a number"
            raise ConfigError(f"{name}={raw!r} is not {kind}") from None
        if variable.zero and value < 0:
            raise ConfigError(f"{name}={raw!r} must not be negative")
        if not variable.zero and value <= 0:
            raise ConfigError(f"{name}={raw!r} must be positive")
        return value
    if isinstance(default, Path):
        return Path(text)
    if variable.name == "log_level":
        return text.upper()
    return text
