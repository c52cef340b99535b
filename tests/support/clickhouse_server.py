"""A real ClickHouse server for tests: Debian's clickhouse-server 18.16
(docs/reference/test-services.md §2(b)).

``start_clickhouse(root)`` installs the package when ``/usr/sbin/clickhouse-server`` is missing
(``apt-get install``, as root, once per machine), writes a config under ``root`` with free
loopback ports, starts the server and waits for ``/ping``. 18.16 is from 2018: it speaks the
native protocol clickhouse-driver uses, but lacks DateTime64, Map, Bool, bloom_filter indexes,
TTL and query parameters, so it tests the transport, not the real schema (chdb does that).

When the server cannot be installed (no apt-get, not root, no network) the caller gets a
``RuntimeError`` that says so: tests must fail, not skip, because CI installs the package.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.service import free_port, refuse_in_fast_run

SERVER_BIN = Path("/usr/sbin/clickhouse-server")
USERS_XML = Path("/etc/clickhouse-server/users.xml")
PACKAGES = ("clickhouse-server", "clickhouse-client")
_INSTALL_LOCK = Path("/tmp/otelfuse-clickhouse-install.lock")

_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>{root}/log/clickhouse-server.log</log>
    <errorlog>{root}/log/clickhouse-server.err.log</errorlog>
  </logger>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <timezone>UTC</timezone>
</yandex>
"""


def ensure_installed(timeout: float = 600) -> float:
    """Install clickhouse-server/-client with apt-get unless already there.

    Returns the seconds spent installing (0.0 when it was installed already). Runs
    ``apt-get update`` and retries once when the package lists do not know the package.

    Raises:
        RuntimeError: not installed and cannot be (no apt-get, not root, apt failed).
    """
    if SERVER_BIN.exists():
        return 0.0
    apt = shutil.which("apt-get")
    hint = f"install it with: apt-get install -y {' '.join(PACKAGES)} (Debian 12)"
    if apt is None:
        raise RuntimeError(f"{SERVER_BIN} is missing and apt-get is unavailable; {hint}")
    if os.geteuid() != 0:
        raise RuntimeError(f"{SERVER_BIN} is missing and the tests do not run as root; {hint}")
    started = time.monotonic()
    with _INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time (parallel test processes)
        if SERVER_BIN.exists():
            return 0.0
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = [apt, "install", "-y", "--no-install-recommends", *PACKAGES]
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0 and "Unable to locate package" in result.stderr:
            subprocess.run(
                [apt, "update"], env=env, capture_output=True, text=True, timeout=timeout
            )
            result = subprocess.run(
                install, env=env, capture_output=True, text=True, timeout=timeout
            )
        if result.returncode != 0 or not SERVER_BIN.exists():
            raise RuntimeError(
                f"apt-get install {' '.join(PACKAGES)} failed ({result.returncode}):\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
    return time.monotonic() - started


@dataclass
class ClickHouseServer:
    """A clickhouse-server process on 127.0.0.1; ``url`` is its native-protocol URL."""

    root: Path
    tcp_port: int
    http_port: int
    install_seconds: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``clickhouse://default@127.0.0.1:<tcp_port>/``."""
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/"

    def start(self, timeout: float = 30) -> None:
        """Start the server (again) and wait until ``/ping`` answers ``Ok.``.

        Raises:
            RuntimeError: the process exited or did not answer within ``timeout`` seconds.
        """
        log = (self.root / "log" / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            [str(SERVER_BIN), f"--config-file={self.root / 'config.xml'}"],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"clickhouse-server exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.http_port}/ping", timeout=1
                ) as response:
                    if response.read().strip() == b"Ok.":
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop(signal.SIGKILL)
        raise RuntimeError(f"clickhouse-server did not answer /ping in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Stop the server (SIGKILL after 20 s); returns its exit code (``None`` if not running)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def log(self, limit: int = 4000) -> str:
        """The tail of the server's error log and stdout."""
        parts = []
        for name in ("clickhouse-server.err.log", "stdout.log"):
            path = self.root / "log" / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-limit:])
        return "\n".join(parts)


def start_clickhouse(root: Path) -> ClickHouseServer:
    """Install if needed, configure under ``root`` (data, logs, config) and start a server.

    Raises:
        RuntimeError: see ``ensure_installed`` and ``ClickHouseServer.start``.
    """
    refuse_in_fast_run("start_clickhouse")
    install_seconds = ensure_installed()
    for sub in ("log", "data", "tmp", "user_files", "format_schemas"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(USERS_XML, root / "users.xml")
    server = ClickHouseServer(root, free_port(), free_port(), install_seconds)
    (root / "config.xml").write_text(
        _CONFIG.format(root=root, http_port=server.http_port, tcp_port=server.tcp_port)
    )
    server.start()
    return server
