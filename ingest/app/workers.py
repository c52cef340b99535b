"""The all-in-one's receiver worker processes (``OTELFUSE_WORKERS`` = N > 1; docs/architecture.md
"Worker processes"): the owner side.

The owner (``AllInOne``) keeps embedded ClickHouse, PostgreSQL, the ``Pipeline``, the score
writer, the archive and every HTTP route; ``start_workers`` adds:

- a private folder (``tempfile.mkdtemp``: mode 0700, a short path, since a Unix socket path
  holds at most 107 bytes) with two Unix sockets (mode 0600): ``records.sock``, where workers
  hand mapped records and scores (``ingest.ipc``), and ``api.sock``, where the owner serves its
  whole HTTP app for the requests workers forward (``ingest.http.proxy``);
- one socket per worker on the public HTTP port, each bound here with ``SO_REUSEPORT`` and
  passed to its worker, which listens on it once it serves: the kernel spreads new connections
  evenly over the listening sockets of the group (socket(7), ``SO_REUSEPORT``), where one
  socket shared by all workers let the worker that is quickest back in ``accept()`` take most
  of them. A probe bind without ``SO_REUSEPORT`` first fails the start when anything listens
  on the port already (as in one process), also another process of the same user that could
  otherwise join the group. The owner never accepts on them; it closes a worker's socket when
  the worker exits (the connections still queued there are reset, and the kernel stops
  routing to it) and binds a new one for the restarted worker;
- N worker processes (``python -m ingest.app.worker``, settings on stdin), each serving the
  OTLP trace and log exports on its HTTP socket and on the gRPC address (each binds it
  with ``SO_REUSEPORT``), forwarding every other HTTP request to ``api.sock``.

Start returns once every worker said it listens (``HELLO``), or raises naming the worker
that exited. A worker that exits while the owner runs is logged and started again. Stop
(pushed last, so it runs first) sends SIGTERM to the workers and waits for them: they stop
accepting and finish their requests, whose records the owner's pipeline still writes; a worker
whose owner died sees its channel close and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from ingest.app.settings import Settings, split_address
from ingest.app.worker_metrics import WorkerMetrics
from ingest.http.server import BACKLOG, HTTPServer
from ingest.ipc import serve_owner_channel
from ingest.memory_limiter import MIB, available_memory
from ingest.sinks import RecordSink, ScoreSink

__all__ = ["START_TIMEOUT_S", "STOP_TIMEOUT_S", "WorkerSpec", "start_workers", "worker_settings"]

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0
"""Seconds a worker may take from spawn to listening."""
STOP_TIMEOUT_S = 40.0
"""Seconds a worker may take to stop after SIGTERM before it is killed."""
RESTART_DELAY_S = 1.0
"""Seconds between a worker's exit and its restart (doubled for repeated exits)."""
MAX_RESTART_DELAY_S = 30.0
"""Longest wait before a worker that keeps exiting is started again."""


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker process needs, sent pickled on its stdin (never in argv or the
    environment: the PostgreSQL URL may hold a password)."""

    index: int
    settings: Settings
    http_fd: int
    """This worker's socket on the public HTTP port (inherited descriptor): bound with
    ``SO_REUSEPORT``, listening once the worker's server starts."""
    channel_path: Path
    """The owner's ``records.sock``."""
    api_path: Path
    """The owner's ``api.sock``."""
    postgres_url: str


class _Pool:
    def __init__(self, settings: Settings, folder: Path, url: str) -> None:
        self.settings = settings
        self.folder = folder
        host, port = split_address(settings.server.http_address)
        _probe_tcp(host, port)
        first = _bind_tcp(host, port)
        self.http_host, self.http_port = host, int(first.getsockname()[1])  # port 0: the one got
        self.http: dict[int, socket.socket] = {1: first}
        self.postgres_url = url
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.ready: dict[int, asyncio.Event] = {}
        self.stopping = False
        self.monitor: asyncio.Task[None] | None = None

    def spawn(self, index: int) -> None:
        """Start worker ``index`` on its HTTP socket (bound now if it has none).

        Raises:
            RuntimeError: the HTTP socket cannot be bound.
        """
        if index not in self.http:
            self.http[index] = _bind_tcp(self.http_host, self.http_port)
        http = self.http[index]
        spec = WorkerSpec(
            index,
            worker_settings(self.settings),
            http.fileno(),
            self.folder / "records.sock",
            self.folder / "api.sock",
            self.postgres_url,
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest.app.worker"],
            stdin=subprocess.PIPE,
            pass_fds=(http.fileno(),),
        )
        assert process.stdin is not None
        process.stdin.write(pickle.dumps(spec))
        process.stdin.close()
        self.processes[index] = process
        self.ready[index] = asyncio.Event()
        log.info("worker %d started (pid %d)", index, process.pid)

    def on_hello(self, index: int) -> None:
        if index in self.ready:
            self.ready[index].set()

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        for index, event in self.ready.items():
            while not event.is_set():
                code = self.processes[index].poll()
                if code is not None:
                    raise RuntimeError(f"worker {index} exited with {code} while starting")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {index} not listening after {START_TIMEOUT_S}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 0.1)

    async def watch(self) -> None:
        """Start again a worker that exited while the owner runs, after ``RESTART_DELAY_S``,
        doubled for each other exit of that worker within the last minute (at most
        ``MAX_RESTART_DELAY_S``), so a worker that cannot start does not spin."""
        exits: dict[int, list[float]] = {}
        restart_at: dict[int, float] = {}
        while not self.stopping:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            for index, process in list(self.processes.items()):
                code = process.poll()
                if code is None or self.stopping:
                    continue
                if index not in restart_at:
                    self.close_http(index)  # no new connections queue for a dead worker
                    recent = [t for t in exits.get(index, []) if now - t < 60] + [now]
                    exits[index] = recent
                    delay = min(RESTART_DELAY_S * 2 ** (len(recent) - 1), MAX_RESTART_DELAY_S)
                    restart_at[index] = now + delay
                    log.error(
                        "worker %d (pid %d) exited with %s; starting it again in %.0f s",
                        index,
                        process.pid,
                        code,
                        delay,
                    )
                elif now >= restart_at[index]:
                    del restart_at[index]
                    try:
                        self.spawn(index)
                    except RuntimeError as exc:  # the port: tried again with the next exit
                        log.error("worker %d not started again: %s", index, exc)

    def close_http(self, index: int | None = None) -> None:
        """Close worker ``index``'s HTTP socket (every worker's when None)."""
        for key in [index] if index is not None else list(self.http):
            sock = self.http.pop(key, None)
            if sock is not None:
                sock.close()

    async def stop(self) -> None:
        self.stopping = True
        if self.monitor is not None:
            self.monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.monitor
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        await asyncio.gather(*(asyncio.to_thread(_reap, p) for p in self.processes.values()))


def worker_settings(settings: Settings) -> Settings:
    """A worker's settings: the owner's, with an equal share of the memory budget
    (``OTELFUSE_MEMORY_LIMIT_*`` is the budget of the whole service: each of the
    ``server.workers`` workers gets ``1 / (workers + 1)`` of it, in MiB, as does the spike
    margin when set; a budget that is off stays off). The owner keeps the whole budget for
    its own RSS, which holds embedded ClickHouse."""
    memory, share = settings.memory, settings.server.workers + 1
    total = memory.limit_bytes(available_memory) // MIB
    if not total:
        return settings
    limit = max(total // share, 2)
    spike = min(memory.spike_limit_mib // share, limit - 1)
    worker_memory = dataclasses.replace(memory, limit_mib=limit, spike_limit_mib=spike)
    return dataclasses.replace(settings, memory=worker_memory)


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.error("worker pid %d did not stop in %.0fs; killing it", process.pid, STOP_TIMEOUT_S)
        process.kill()
        process.wait()


def _probe_tcp(host: str, port: int) -> None:
    """Bind ``host:port`` without ``SO_REUSEPORT`` and let go: fails when any socket listens
    there, also one with ``SO_REUSEPORT`` whose group the workers' sockets would join.

    Raises:
        RuntimeError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"cannot bind HTTP server to {host}:{port}: {exc}") from None


def _bind_tcp(host: str, port: int) -> socket.socket:
    """One worker's socket on the public HTTP port: ``SO_REUSEPORT``, bound, inheritable, not
    listening yet: its worker's server calls ``listen()`` when it starts serving (asyncio
    ``loop.create_server(sock=...)``), so the kernel routes no connection to a worker that is
    still starting.

    Raises:
        RuntimeError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:  # as socket.create_server: IPv6 only
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"cannot bind HTTP server to {host}:{port}: {exc}") from None
    sock.set_inheritable(True)
    return sock


def _listen_unix(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(BACKLOG)
    return sock


async def start_workers(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    app: ASGIApp,
    records: RecordSink,
    scores: ScoreSink,
    postgres_url: str,
    metrics: WorkerMetrics | None = None,
) -> None:
    """Serve ``app`` to the workers, start ``settings.server.workers`` of them and keep them
    running until ``stack`` closes (module docstring). ``records`` and ``scores`` receive what
    the workers hand over (the owner's ``Pipeline`` and score sink); ``metrics`` their metrics
    snapshots (``app``'s ``/metrics`` renders it).

    Raises:
        RuntimeError: the HTTP address cannot be bound, or a worker exited or did not listen
            within ``START_TIMEOUT_S``.
    """
    folder = Path(tempfile.mkdtemp(prefix="otelfuse-"))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    pool = _Pool(settings, folder, postgres_url)
    stack.callback(pool.close_http)

    async def channel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        on_metrics = None if metrics is None else metrics.update
        await serve_owner_channel(reader, writer, records, scores, pool.on_hello, on_metrics)

    records_sock = _listen_unix(folder / "records.sock")
    server = await asyncio.start_unix_server(channel, sock=records_sock)
    stack.push_async_callback(_close_server, server)
    api = HTTPServer(app, "unix", 0, sockets=[_listen_unix(folder / "api.sock")])
    api.address = str(folder / "api.sock")
    await api.start()
    stack.push_async_callback(api.stop)
    stack.push_async_callback(pool.stop)
    for index in range(1, settings.server.workers + 1):
        pool.spawn(index)
    await pool.wait_ready()
    pool.monitor = asyncio.create_task(pool.watch(), name="otelfuse-workers")
    log.info("%d worker processes serve the OTLP exports", settings.server.workers)


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.wait_closed(), 5)
