"""Settings for every otelfuse role: one model, from ``OTELFUSE_*`` environment variables and an
optional TOML file.

Each field ``name`` is read from ``OTELFUSE_<NAME>``; when ``OTELFUSE_CONFIG_FILE`` (or
``otelfuse --config``) names a TOML file, its top-level key ``name`` is the fallback; the
field's default comes last. Defaults are named constants; addresses bind to loopback unless
configured (as the collector's otlpreceiver does). ``Settings.load`` raises ``ConfigError``
naming the variable and the bad value.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processors.batching import DEFAULT_BATCH_MAX_RECORDS, DEFAULT_BATCH_TIMEOUT_MS
from processors.kafka.config import DEFAULT_BOOTSTRAP_SERVERS as DEFAULT_KAFKA_BOOTSTRAP_SERVERS
from processors.kafka.config import DEFAULT_DEAD_LETTER_TOPIC as DEFAULT_KAFKA_DEAD_LETTER_TOPIC
from processors.kafka.config import DEFAULT_GROUP_ID as DEFAULT_KAFKA_CONSUMER_GROUP
from processors.kafka.config import DEFAULT_OBSERVATIONS_TOPIC as DEFAULT_KAFKA_OBSERVATIONS_TOPIC
from processors.kafka.config import DEFAULT_SCORES_TOPIC as DEFAULT_KAFKA_SCORES_TOPIC
from processors.pipeline import DEFAULT_MAX_QUEUED_RECORDS as DEFAULT_QUEUE_MAX_RECORDS

__all__ = ["ConfigError", "Settings"]

DEFAULT_DATA_DIR = "./data"
DEFAULT_GRPC_ADDRESS = "127.0.0.1:4317"
DEFAULT_HTTP_ADDRESS = "127.0.0.1:4318"
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # OTLP spec RECOMMENDED 64 MiB, after decompression
DEFAULT_CLICKHOUSE_DATABASE = "otelfuse"
DEFAULT_KAFKA_MAX_MESSAGE_BYTES = 1_000_000  # below Apache Kafka's default message.max.bytes
KAFKA_COMPRESSIONS = ("none", "gzip", "lz4", "zstd", "snappy")


class ConfigError(ValueError):
    """A setting has a value otelfuse cannot use; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Settings of all roles. Each field maps to ``OTELFUSE_<FIELD NAME IN CAPITALS>``."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    """Folder for embedded ClickHouse, the generated project key and tokenizer files."""
    grpc_address: str = DEFAULT_GRPC_ADDRESS
    """host:port of the OTLP/gRPC receiver."""
    http_address: str = DEFAULT_HTTP_ADDRESS
    """host:port of the role's HTTP server: OTLP/HTTP (receiver), query API, /metrics, health."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """Largest accepted request body in bytes, checked before and after decompression."""
    queue_max_records: int = DEFAULT_QUEUE_MAX_RECORDS
    """All-in-one: observations accepted but not yet written; beyond it, 503/UNAVAILABLE."""
    batch_max_records: int = DEFAULT_BATCH_MAX_RECORDS
    """A ClickHouse insert is cut when it holds this many observations..."""
    batch_timeout_ms: int = DEFAULT_BATCH_TIMEOUT_MS
    """...or this many milliseconds after its first observation arrived."""
    clickhouse_url: str = ""
    """``clickhouse://user:pass@host:9000/db`` (``clickhouses://`` for TLS) for a ClickHouse
    server; its database, when given, overrides ``clickhouse_database``; empty: embedded chdb
    under ``data_dir/clickhouse``."""
    clickhouse_database: str = DEFAULT_CLICKHOUSE_DATABASE
    """ClickHouse database holding observations, traces and scores."""
    kafka_bootstrap_servers: str = DEFAULT_KAFKA_BOOTSTRAP_SERVERS
    """Comma-separated host:port list of Kafka brokers (receiver and processor roles)."""
    kafka_observations_topic: str = DEFAULT_KAFKA_OBSERVATIONS_TOPIC
    """Observation records (spans, ingestion events), keyed by trace id."""
    kafka_scores_topic: str = DEFAULT_KAFKA_SCORES_TOPIC
    """Score records (POST /api/public/scores, score-create events), keyed by trace id."""
    kafka_dead_letter_topic: str = DEFAULT_KAFKA_DEAD_LETTER_TOPIC
    kafka_consumer_group: str = DEFAULT_KAFKA_CONSUMER_GROUP
    kafka_max_message_bytes: int = DEFAULT_KAFKA_MAX_MESSAGE_BYTES
    """Largest Kafka message value; one observation above it is refused in partial_success."""
    kafka_compression: str = "lz4"
    """none, gzip, lz4, zstd or snappy."""
    kafka_delivery_timeout_ms: int = 10_000
    """An export fails with 503 when Kafka has not acknowledged it within this time."""
    kafka_enable_idempotence: bool = False
    """Idempotent producer (Apache Kafka); duplicates are harmless either way (rows keyed by id)."""
    init_project_id: str = ""
    """Initial project id; with the two keys below it replaces the generated project."""
    init_project_public_key: str = ""
    init_project_secret_key: str = ""
    postgres_url: str = ""
    """``postgresql://user:pass@host:5432/db``: projects, API keys, custom model prices and
    prompts from PostgreSQL (schema ``otelfuse``); empty: the settings-based project above and
    catalog prices only."""
    auth_cache_ttl_s: int = 30
    """With PostgreSQL: seconds an API-key lookup is reused (a revoked key fails within it)."""
    model_cache_ttl_s: int = 10
    """With PostgreSQL: seconds a custom-model match or prompt id is reused (a model change
    applies to generations processed this long after it)."""
    log_level: str = "INFO"

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
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(from_file) - names)
        if unknown:
            raise ConfigError(f"unknown setting(s) in {file_path}: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            variable = f"OTELFUSE_{field.name.upper()}"
            if variable in env:
                values[field.name] = _parse(variable, env[variable], field.default)
            elif field.name in from_file:
                values[field.name] = _parse(variable, from_file[field.name], field.default)
        settings = cls(**values)
        settings._validate()
        if settings.clickhouse_url:
            from storage.clickhouse import database_for
            from storage.errors import PermanentError

            try:
                database = database_for(settings.clickhouse_url, settings.clickhouse_database)
            except PermanentError as exc:
                raise ConfigError(f"OTELFUSE_CLICKHOUSE_URL: {exc}") from None
            settings = dataclasses.replace(settings, clickhouse_database=database)
        return settings

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """``load`` without an explicit file (``OTELFUSE_CONFIG_FILE`` is still honoured)."""
        return cls.load(env)

    def _validate(self) -> None:
        for name in ("grpc_address", "http_address"):
            value = getattr(self, name)
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ConfigError(f"OTELFUSE_{name.upper()}={value!r} is not host:port")
        if self.batch_max_records > self.queue_max_records:
            raise ConfigError(
                "OTELFUSE_BATCH_MAX_RECORDS must not exceed OTELFUSE_QUEUE_MAX_RECORDS"
            )
        if not self.clickhouse_database.isidentifier():
            raise ConfigError(
                f"OTELFUSE_CLICKHOUSE_DATABASE={self.clickhouse_database!r} "
                "is not a plain identifier"
            )
        if self.kafka_compression not in KAFKA_COMPRESSIONS:
            raise ConfigError(
                f"OTELFUSE_KAFKA_COMPRESSION={self.kafka_compression!r} is not one of "
                f"{', '.join(KAFKA_COMPRESSIONS)}"
            )
        if self.postgres_url and not self.postgres_url.startswith(("postgres://", "postgresql://")):
            raise ConfigError("OTELFUSE_POSTGRES_URL must start with postgresql:// or postgres://")
        if self.clickhouse_url and not self.clickhouse_url.startswith(
            ("clickhouse://", "clickhouses://")
        ):
            raise ConfigError(
                "OTELFUSE_CLICKHOUSE_URL must start with clickhouse:// or clickhouses:// (TLS)"
            )

    @staticmethod
    def split_address(address: str) -> tuple[str, int]:
        """``"host:port"`` -> ``(host, port)``."""
        host, _, port = address.rpartition(":")
        return host.strip("[]"), int(port)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc}") from exc


def _parse(variable: str, raw: object, default: object) -> object:
    """Convert ``raw`` (env string or TOML value) to the type of ``default``."""
    text = str(raw).strip()
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{variable}={raw!r} is not a boolean")
    if isinstance(default, int):
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{variable}={raw!r} is not an integer") from None
        if value <= 0:
            raise ConfigError(f"{variable}={raw!r} must be positive")
        return value
    if isinstance(default, Path):
        return Path(text)
    if variable == "OTELFUSE_LOG_LEVEL":
        return text.upper()
    return text
