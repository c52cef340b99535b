"""Settings from OTELFUSE_* variables: defaults, parsing and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.app.metadata import require_postgres_url
from ingest.app.settings import VARIABLES, ConfigError, Settings, split_address
from processors.batching import BatchConfig
from processors.kafka.config import ConsumerConfig, PublisherConfig
from processors.pipeline import PipelineConfig
from storage.clickhouse.config import ClickHouseConfig
from storage.postgres.config import PostgresConfig


def test_defaults_bind_loopback() -> None:
    settings = Settings.from_env({})
    assert settings.server.grpc_address == "127.0.0.1:4317"
    assert settings.server.http_address == "127.0.0.1:4318"
    assert settings.data_dir == Path("./data")
    assert settings.server.max_request_bytes == 64 * 1024 * 1024


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {"OTELFUSE_HTTP_ADDRESS": "0.0.0.0:9000", "OTELFUSE_BATCH_TIMEOUT_MS": "50"}
    )
    assert split_address(settings.server.http_address) == ("0.0.0.0", 9000)
    assert settings.pipeline.batch.timeout_ms == 50


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTELFUSE_MAX_REQUEST_BYTES": "lots"}, "OTELFUSE_MAX_REQUEST_BYTES='lots'"),
        ({"OTELFUSE_QUEUE_MAX_RECORDS": "0"}, "must be positive"),
        ({"OTELFUSE_WORKERS": "0"}, "OTELFUSE_WORKERS='0' must be positive"),
        ({"OTELFUSE_GRPC_ADDRESS": "4317"}, "OTELFUSE_GRPC_ADDRESS='4317' is not host:port"),
        ({"OTELFUSE_CLICKHOUSE_DATABASE": "x; DROP"}, "not a plain identifier"),
        (
            {"OTELFUSE_QUEUE_MAX_RECORDS": "10", "OTELFUSE_BATCH_MAX_RECORDS": "20"},
            "must not exceed",
        ),
        (
            {"OTELFUSE_INIT_PROJECT_ID": "p", "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": "pk-lf-1"},
            "OTELFUSE_INIT_PROJECT_ID, _PUBLIC_KEY and _SECRET_KEY, or none",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


def test_a_small_queue_caps_the_default_batch_size() -> None:
    settings = Settings.from_env({"OTELFUSE_QUEUE_MAX_RECORDS": "8000"})
    assert settings.pipeline.max_queued_records == 8000
    assert settings.pipeline.batch.max_records == 8000
    assert settings.consumer.batch.max_records == 8000
    default = Settings.from_env({})
    assert default.pipeline.batch.max_records == default.consumer.batch.max_records == 20_000
    both = Settings.from_env(
        {"OTELFUSE_QUEUE_MAX_RECORDS": "8000", "OTELFUSE_BATCH_MAX_RECORDS": "3000"}
    )
    assert both.pipeline.batch.max_records == 3000


def test_toml_file_is_the_fallback_and_env_wins(tmp_path: Path) -> None:
    path = tmp_path / "otelfuse.toml"
    path.write_text(
        'kafka_bootstrap_servers = "kafka-0:9092,kafka-1:9092"\n'
        "batch_timeout_ms = 75\n"
        "kafka_enable_idempotence = true\n"
        'http_address = "0.0.0.0:4318"\n'
    )
    settings = Settings.load({"OTELFUSE_CONFIG_FILE": str(path), "OTELFUSE_BATCH_TIMEOUT_MS": "20"})
    assert settings.publisher.bootstrap_servers == "kafka-0:9092,kafka-1:9092"
    assert settings.pipeline.batch.timeout_ms == 20  # the environment wins over the file
    assert settings.publisher.enable_idempotence is True
    assert settings.server.http_address == "0.0.0.0:4318"


def test_unknown_file_keys_and_bad_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("kafka_bootstrap = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.load({}, config_file=path)
    with pytest.raises(ConfigError, match="OTELFUSE_KAFKA_COMPRESSION"):
        Settings.load({"OTELFUSE_KAFKA_COMPRESSION": "brotli"})
    with pytest.raises(ConfigError, match="not a boolean"):
        Settings.load({"OTELFUSE_KAFKA_ENABLE_IDEMPOTENCE": "maybe"})


def test_one_variable_sets_every_component_that_uses_it() -> None:
    settings = Settings.from_env(
        {
            "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9092",
            "OTELFUSE_BATCH_TIMEOUT_MS": "75",
            "OTELFUSE_BATCH_MAX_RECORDS": "100",
            "OTELFUSE_KAFKA_OBSERVATIONS_TOPIC": "obs",
        }
    )
    assert settings.publisher.bootstrap_servers == "kafka-0:9092"
    assert settings.consumer.bootstrap_servers == "kafka-0:9092"
    assert (
        settings.pipeline.batch
        == settings.consumer.batch
        == BatchConfig(max_records=100, timeout_ms=75)
    )
    assert settings.publisher.topic == settings.consumer.observations_topic == "obs"


def test_defaults_are_the_components_own() -> None:
    settings = Settings.from_env({})
    assert settings.pipeline == PipelineConfig()
    assert settings.consumer == ConsumerConfig()
    assert settings.publisher == PublisherConfig()
    assert settings.clickhouse == ClickHouseConfig()
    assert settings.postgres == PostgresConfig()
    # a variable that sets several fields has one default for all of them
    for variable in VARIABLES:
        values = set()
        for target in variable.targets:
            value: object = settings
            for part in target.split("."):
                value = getattr(value, part)
            values.add(value)
        assert len(values) == 1, variable.name


def test_blob_and_media_settings() -> None:
    settings = Settings.from_env(
        {
            "OTELFUSE_BLOB_BACKEND": "s3",
            "OTELFUSE_S3_ENDPOINT": "http://127.0.0.1:8333",
            "OTELFUSE_S3_BUCKET": "media-bucket",
            "OTELFUSE_S3_PREFIX": "otelfuse/",
            "OTELFUSE_S3_ACCESS_KEY": "key",
            "OTELFUSE_S3_SECRET_KEY": "secret",
            "OTELFUSE_S3_FORCE_PATH_STYLE": "false",
            "OTELFUSE_MEDIA_MAX_CONTENT_LENGTH": "1000",
        }
    )
    s3 = settings.blobs.s3
    assert settings.blobs.backend == "s3"
    assert (s3.host, s3.secure, s3.bucket, s3.prefix) == (
        "127.0.0.1:8333",
        False,
        "media-bucket",
        "otelfuse/",
    )
    assert (s3.access_key, s3.secret_key, s3.force_path_style) == ("key", "secret", False)
    assert settings.media.max_content_length == 1000
    defaults = Settings.from_env({})
    assert defaults.blobs.backend == "local"
    assert defaults.blobs.s3.secure and defaults.blobs.s3.access_key == ""


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTELFUSE_BLOB_BACKEND": "gcs"}, "OTELFUSE_BLOB_BACKEND"),
        ({"OTELFUSE_S3_BUCKET": "No_Such"}, "OTELFUSE_S3_BUCKET"),
        ({"OTELFUSE_S3_ENDPOINT": "ftp://x"}, "OTELFUSE_S3_ENDPOINT"),
        ({"OTELFUSE_S3_ACCESS_KEY": "only-key"}, "OTELFUSE_S3_ACCESS_KEY"),
        ({"OTELFUSE_MEDIA_SIGNING_KEY": "short"}, "OTELFUSE_MEDIA_SIGNING_KEY"),
    ],
)
def test_bad_blob_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_scale_out_roles_need_a_postgres_url() -> None:
    with pytest.raises(ConfigError, match="the receiver role needs OTELFUSE_POSTGRES_URL"):
        require_postgres_url(Settings.from_env({}), "receiver")
    url = "postgresql://u@db:5432/otelfuse"
    assert require_postgres_url(Settings.from_env({"OTELFUSE_POSTGRES_URL": url}), "query") == url


@pytest.mark.parametrize(
    "name",
    [
        "OTELFUSE_MEMORY_LIMIT_MIB",
        "OTELFUSE_MEMORY_LIMIT_PERCENTAGE",
        "OTELFUSE_MEMORY_SPIKE_LIMIT_MIB",
    ],
)
def test_memory_settings_take_their_documented_zero(name: str) -> None:
    """README documents 0 for each (limit from the percentage, limiter off, 20 % spike): the
    parser refused it as "must be positive"."""
    Settings.from_env({name: "0"})


def test_a_zero_percentage_turns_the_memory_limiter_off() -> None:
    settings = Settings.from_env({"OTELFUSE_MEMORY_LIMIT_PERCENTAGE": "0"})
    assert settings.memory.limit_bytes(lambda: 8 * 1024**3) == 0


def test_negative_memory_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="OTELFUSE_MEMORY_LIMIT_MIB='-1' must not be negative"):
        Settings.from_env({"OTELFUSE_MEMORY_LIMIT_MIB": "-1"})
