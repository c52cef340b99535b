"""``otelfuse run`` without ``OTELFUSE_POSTGRES_URL`` keeps its metadata in an embedded
PostgreSQL under the data folder (issue 14): the first start creates a project and prints its
key pair once, an older ``project.json`` is imported, a restart and a kill -9 + restart come back
with the data, a clean stop leaves no server process, and the admin CLI reaches the same data
whether or not the service runs."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import psutil
import pytest

from storage.auth import hash_secret
from storage.postgres.embedded import EMBEDDED_DIR
from tests.support.postgres import cli_env
from tests.support.service import Service, basic_auth, otelfuse_cli, start_service

pytestmark = pytest.mark.service

NO_INIT = {
    "OTELFUSE_INIT_PROJECT_ID": "",
    "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": "",
    "OTELFUSE_INIT_PROJECT_SECRET_KEY": "",
}


def _servers(data: Path) -> list[psutil.Process]:
    """Live ``postgres`` postmasters whose data folder is ``data/postgres``."""
    pgdata = str((data / EMBEDDED_DIR).resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-D" in cmdline and pgdata in cmdline:
            found.append(proc)
    return found


def _printed_keys(service: Service) -> tuple[str, str]:
    log = service.log()
    public = re.findall(r"LANGFUSE_PUBLIC_KEY=(\S+)", log)
    secret = re.findall(r"LANGFUSE_SECRET_KEY=(\S+)", log)
    assert len(public) == len(secret) == 1, log
    return public[0], secret[0]


def _projects(service: Service, public: str, secret: str) -> int:
    return service.get("/api/public/projects", auth=basic_auth(public, secret)).status_code


def test_first_start_restart_kill_and_clean_stop(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = start_service(data, NO_INIT)
    try:
        public, secret = _printed_keys(service)
        answer = service.get("/api/public/projects", auth=basic_auth(public, secret))
        assert answer.status_code == 200, answer.text
        project_id = answer.json()["data"][0]["id"]
        assert len(_servers(data)) == 1
        # the admin CLI reaches the running service's server and changes what it serves
        env = cli_env("", data)
        listed = otelfuse_cli(["projects", "list", "--json"], env)
        assert [p["id"] for p in json.loads(listed.stdout)] == [project_id]
        created = json.loads(
            otelfuse_cli(["keys", "create", "--project", project_id, "--json"], env).stdout
        )
        assert _projects(service, created["publicKey"], created["secretKey"]) == 200
        assert len(_servers(data)) == 1  # the CLI left the service's server running

        service.process.send_signal(signal.SIGKILL)
        service.process.wait()
        assert len(_servers(data)) == 1  # a crash leaves the server; the next start adopts it
    finally:
        service.client.close()

    again = start_service(data, NO_INIT)
    try:
        assert "LANGFUSE_SECRET_KEY" not in again.log()  # no second project
        assert _projects(again, public, secret) == 200
        assert _projects(again, created["publicKey"], created["secretKey"]) == 200
        assert _projects(again, public, "sk-lf-wrong") == 401
    finally:
        assert again.process.poll() is None
        again.process.send_signal(signal.SIGTERM)
        assert again.process.wait(30) == 0, again.log()
        again.client.close()
    assert _servers(data) == []  # a clean stop stops the embedded server

    third = start_service(data, NO_INIT)  # a stopped server starts again with its data
    try:
        assert _projects(third, public, secret) == 200
    finally:
        assert third.stop() == 0
    assert _servers(data) == []


def test_project_json_from_an_older_version_is_imported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    secret = "sk-lf-kept-from-before"
    legacy = {
        "project_id": "proj-legacy",
        "name": "default",
        "public_key": "pk-lf-legacy",
        "secret_hash": hash_secret(secret),
    }
    (data / "project.json").write_text(json.dumps(legacy))
    service = start_service(data, NO_INIT)
    try:
        assert "LANGFUSE_SECRET_KEY" not in service.log()
        answer = service.get("/api/public/projects", auth=basic_auth("pk-lf-legacy", secret))
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"][0]["id"] == "proj-legacy"
        assert not (data / "project.json").exists()
        assert (data / "project.json.imported").exists()
    finally:
        assert service.stop() == 0


def test_admin_commands_without_a_running_service_leave_no_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = cli_env("", data)
    created = otelfuse_cli(["projects", "create", "--name", "Team A", "--id", "proj-a"], env)
    assert "Created project proj-a" in created.stdout
    assert _servers(data) == []
    listed = otelfuse_cli(["projects", "list", "--json"], env)
    assert [p["id"] for p in json.loads(listed.stdout)] == ["proj-a"]
    assert _servers(data) == []

    service = start_service(data, NO_INIT)  # a project exists: none is generated
    try:
        assert "LANGFUSE_SECRET_KEY" not in service.log()
    finally:
        assert service.stop() == 0


def test_a_stale_pid_file_after_a_crash_of_both_is_replaced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = start_service(data, NO_INIT)
    public, secret = _printed_keys(service)
    service.process.send_signal(signal.SIGKILL)  # a machine crash: otelfuse and PostgreSQL die
    service.process.wait()
    service.client.close()
    doomed = [p for server in _servers(data) for p in [server, *server.children(recursive=True)]]
    for process in doomed:
        process.kill()
    psutil.wait_procs(doomed, timeout=10)  # SIGKILL is asynchronous: all gone before restart
    assert (data / EMBEDDED_DIR / "postmaster.pid").exists()

    again = start_service(data, NO_INIT)
    try:
        assert _projects(again, public, secret) == 200
    finally:
        assert again.stop() == 0
    assert _servers(data) == []
