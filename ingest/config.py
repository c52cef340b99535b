"""Settings for every otelfuse role, read from ``OTELFUSE_*`` environment variables.

Defaults are named constants; addresses bind to loopback unless configured (the collector's
otlpreceiver does the same). ``Settings.from_env`` raises ``ConfigError`` naming the variable
and the bad value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ConfigError", "Settings"]

DEFAULT_DATA_DIR = "./data"
DEFAULT_GRPC_ADDRESS = "127.0.0.1:4317"
DEFAULT_HTTP_ADDRESS = "127.0.0.1:4318"
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # OTLP spec RECOMMENDED 64 MiB, after decompression
DEFAULT_QUEUE_MAX_RECORDS = 50_000
DEFAULT_BATCH_MAX_RECORDS = 5_000
DEFAULT_BATCH_TIMEOUT_MS = 50
DEFAULT_CLICKHOUSE_DATABASE = "otelfuse"


class ConfigError(ValueError):
    """A setting has a value otelfuse cannot use; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """All-in-one settings. Each field maps to ``OTELFUSE_<FIELD NAME IN CAPITALS>``."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    """Folder for embedded ClickHouse, the generated project key and tokenizer files."""
    grpc_address: str = DEFAULT_GRPC_ADDRESS
    """host:port of the OTLP/gRPC receiver."""
    http_address: str = DEFAULT_HTTP_ADDRESS
    """host:port of the OTLP/HTTP receiver and the query API."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """Largest accepted request body in bytes, checked before and after decompression."""
    queue_max_records: int = DEFAULT_QUEUE_MAX_RECORDS
    """Observations accepted but not yet written; beyond it receivers answer 503/UNAVAILABLE."""
    batch_max_records: int = DEFAULT_BATCH_MAX_RECORDS
    """A ClickHouse insert is cut when it holds this many observations..."""
    batch_timeout_ms: int = DEFAULT_BATCH_TIMEOUT_MS
    """...or this many milliseconds after its first observation arrived."""
    clickhouse_database: str = DEFAULT_CLICKHOUSE_DATABASE
    """ClickHouse database holding observations, traces and scores."""
    init_project_id: str = ""
    """Initial project id; with the two keys below it replaces the generated project."""
    init_project_public_key: str = ""
    init_project_secret_key: str = ""
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``OTELFUSE_*`` variables (``os.environ`` by default).

        Raises:
            ConfigError: a number is not a positive integer or an address is not host:port.
        """
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return env.get(f"OTELFUSE_{name}", default)

        def positive_int(name: str, default: int) -> int:
            raw = get(name, str(default))
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"OTELFUSE_{name}={raw!r} is not an integer") from None
            if value <= 0:
                raise ConfigError(f"OTELFUSE_{name}={raw!r} must be positive")
            return value

        def address(name: str, default: str) -> str:
            raw = get(name, default)
            host, sep, port = raw.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ConfigError(f"OTELFUSE_{name}={raw!r} is not host:port")
            return raw

        settings = cls(
            data_dir=Path(get("DATA_DIR", DEFAULT_DATA_DIR)),
            grpc_address=address("GRPC_ADDRESS", DEFAULT_GRPC_ADDRESS),
            http_address=address("HTTP_ADDRESS", DEFAULT_HTTP_ADDRESS),
            max_request_bytes=positive_int("MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES),
            queue_max_records=positive_int("QUEUE_MAX_RECORDS", DEFAULT_QUEUE_MAX_RECORDS),
            batch_max_records=positive_int("BATCH_MAX_RECORDS", DEFAULT_BATCH_MAX_RECORDS),
            batch_timeout_ms=positive_int("BATCH_TIMEOUT_MS", DEFAULT_BATCH_TIMEOUT_MS),
            clickhouse_database=get("CLICKHOUSE_DATABASE", DEFAULT_CLICKHOUSE_DATABASE),
            init_project_id=get("INIT_PROJECT_ID", ""),
            init_project_public_key=get("INIT_PROJECT_PUBLIC_KEY", ""),
            init_project_secret_key=get("INIT_PROJECT_SECRET_KEY", ""),
            log_level=get("LOG_LEVEL", "INFO").upper(),
        )
        if settings.batch_max_records > settings.queue_max_records:
            raise ConfigError(
                "OTELFUSE_BATCH_MAX_RECORDS must not exceed OTELFUSE_QUEUE_MAX_RECORDS"
            )
        if not settings.clickhouse_database.isidentifier():
            raise ConfigError(
                f"OTELFUSE_CLICKHOUSE_DATABASE={settings.clickhouse_database!r} "
                "is not a plain identifier"
            )
        return settings

    @staticmethod
    def split_address(address: str) -> tuple[str, int]:
        """``"host:port"`` -> ``(host, port)``."""
        host, _, port = address.rpartition(":")
        return host.strip("[]"), int(port)
