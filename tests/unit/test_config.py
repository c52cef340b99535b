"""Settings from OTELFUSE_* variables: defaults, parsing and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import ConfigError, Settings


def test_defaults_bind_loopback() -> None:
    settings = Settings.from_env({})
    assert settings.grpc_address == "127.0.0.1:4317"
    assert settings.http_address == "127.0.0.1:4318"
    assert settings.data_dir == Path("./data")
    assert settings.max_request_bytes == 64 * 1024 * 1024


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {"OTELFUSE_HTTP_ADDRESS": "0.0.0.0:9000", "OTELFUSE_BATCH_TIMEOUT_MS": "50"}
    )
    assert Settings.split_address(settings.http_address) == ("0.0.0.0", 9000)
    assert settings.batch_timeout_ms == 50


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTELFUSE_MAX_REQUEST_BYTES": "lots"}, "OTELFUSE_MAX_REQUEST_BYTES='lots'"),
        ({"OTELFUSE_QUEUE_MAX_RECORDS": "0"}, "must be positive"),
        ({"OTELFUSE_GRPC_ADDRESS": "4317"}, "OTELFUSE_GRPC_ADDRESS='4317' is not host:port"),
        ({"OTELFUSE_CLICKHOUSE_DATABASE": "x; DROP"}, "not a plain identifier"),
        (
            {"OTELFUSE_QUEUE_MAX_RECORDS": "10", "OTELFUSE_BATCH_MAX_RECORDS": "20"},
            "must not exceed",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


def test_toml_file_is_the_fallback_and_env_wins(tmp_path: Path) -> None:
    path = tmp_path / "otelfuse.toml"
    path.write_text(
        'kafka_bootstrap_servers = "kafka-0:9092,kafka-1:9092"\n'
        "batch_timeout_ms = 75\n"
        "kafka_enable_idempotence = true\n"
        'http_address = "0.0.0.0:4318"\n'
    )
    settings = Settings.load({"OTELFUSE_CONFIG_FILE": str(path), "OTELFUSE_BATCH_TIMEOUT_MS": "20"})
    assert settings.kafka_bootstrap_servers == "kafka-0:9092,kafka-1:9092"
    assert settings.batch_timeout_ms == 20  # the environment wins over the file
    assert settings.kafka_enable_idempotence is True
    assert settings.http_address == "0.0.0.0:4318"


def test_unknown_file_keys_and_bad_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("kafka_bootstrap = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.load({}, config_file=path)
    with pytest.raises(ConfigError, match="OTELFUSE_KAFKA_COMPRESSION"):
        Settings.load({"OTELFUSE_KAFKA_COMPRESSION": "brotli"})
    with pytest.raises(ConfigError, match="not a boolean"):
        Settings.load({"OTELFUSE_KAFKA_ENABLE_IDEMPOTENCE": "maybe"})
