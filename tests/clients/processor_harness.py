"""The real processor role (``app.processor.Processor`` with the query API) in a process the test
can command, to break ClickHouse from inside: with embedded chdb only the process that owns the
data folder can touch it, so a ClickHouse outage has to be injected there.

Child side (``python -m tests.clients.processor_harness``): settings from ``OTELFUSE_*`` exactly
as ``otelfuse processor --query`` reads them; SIGTERM/SIGINT stop it as the CLI does. Commands
arrive one per line on stdin and each is answered with one line on stdout (``ok <command>``,
optionally followed by a space and a JSON result, or ``error <command>: <reason>``); logs go to
stderr.

- ``fail-inserts``: every INSERT into ``observations`` fails: ``ALTER TABLE ... MODIFY SETTING
  table_readonly = 1`` makes ClickHouse refuse writes with ``TABLE_IS_PERMANENTLY_READ_ONLY``
  (code 774; retryable by ``storage.clickhouse.classify``'s default rule) while reads go on.
  The flag is checked before an insert starts, so it fails chdb's streaming inserts
  (``Session.send_insert``) as well as ``INSERT`` queries. ``parts_to_throw_insert = 1`` /
  ``max_parts_in_total = 1`` (TOO_MANY_PARTS) would not: the streaming insert skips that check.
- ``restore-inserts``: reset the flag to its default.
- ``refuse-disk-space <table>[,<table>...]`` / ``restore-disk-space <tables>``: set
  ``min_free_disk_bytes_to_perform_insert`` of those tables to 1 EB, so ClickHouse refuses
  their inserts with NOT_ENOUGH_SPACE (code 243) as on a full disk / reset it. The check runs
  in the insert's sink: an ``INSERT`` query raises, chdb's streaming insert drops the rows and
  reports success (``test_reliability.py`` has the strict xfail).
- ``hold-commits``: from now on every offset commit of the consumer hangs; answered once the
  first commit is held, i.e. once a batch has been written to ClickHouse and its offsets are
  not committed (nor will be). Result: the held offsets, ``{"<partition>": <offset>}``. Used
  before a ``SIGKILL`` so the restarted processor is certain to receive written records again.
- ``stop-consumer``: stop the Kafka consumer as a fatal consumer error would end it, leaving the
  HTTP side (health, query API) running.

Parent side: ``start_processor_harness()`` starts it on free ports and waits for its health
check; ``Harness.command()`` sends a command and waits for its answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.service import REPO, Service, free_port

FAIL_INSERTS = "ALTER TABLE {db}.observations MODIFY SETTING table_readonly = 1"
RESTORE_INSERTS = "ALTER TABLE {db}.observations RESET SETTING table_readonly"
REFUSE_DISK_SPACE = (
    "ALTER TABLE {db}.{table} MODIFY SETTING min_free_disk_bytes_to_perform_insert = " + str(10**18)
)
RESTORE_DISK_SPACE = "ALTER TABLE {db}.{table} RESET SETTING min_free_disk_bytes_to_perform_insert"
TABLES = frozenset({"observations", "traces", "scores"})

log = logging.getLogger("processor_harness")


# ---- child -----------------------------------------------------------------------------------


async def _serve() -> None:
    from ingest.app.processor import Processor
    from ingest.app.settings import Settings

    settings = Settings.load()
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    commands: asyncio.Queue[str | None] = asyncio.Queue()

    def read_stdin() -> None:  # a daemon thread: stdin has no asyncio reader on every platform
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, None)

    processor = Processor(settings, serve_query=True)
    try:
        await processor.start()
        threading.Thread(target=read_stdin, name="harness-stdin", daemon=True).start()
        stopping = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            getter = asyncio.ensure_future(commands.get())
            await asyncio.wait({getter, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            command = getter.result()
            if command is None:  # stdin closed: keep serving until SIGTERM
                continue
            print(await _run(processor, settings.clickhouse.database, command), flush=True)
        log.info("shutting down")
    finally:
        await processor.stop()


async def _run(processor: object, database: str, line: str) -> str:
    command, _, argument = line.partition(" ")
    # app.processor.Processor exposes neither its storage nor its consumer: use the private ones
    result = ""
    try:
        if command == "hold-commits":
            result = " " + json.dumps(await _hold_commits(processor))
        elif command == "stop-consumer":
            consumer: Any = getattr(processor, "_consumer", None)
            if consumer is None:
                return f"error {line}: the consumer is not running"
            await consumer.stop()
        else:
            statements = _statements(command, argument, database)
            storage: Any = getattr(processor, "_storage", None)
            if storage is None:
                return f"error {line}: processor not started"
            for sql in statements:
                await asyncio.to_thread(storage.client.command, sql)
    except Exception as exc:
        return f"error {line}: {exc!r}"
    log.warning("harness: %s done%s", line, result)
    return f"ok {line}{result}"


def _statements(command: str, argument: str, database: str) -> list[str]:
    """The ALTER statements of a ClickHouse command (``ValueError`` for unknown ones)."""
    if command in ("fail-inserts", "restore-inserts") and not argument:
        template = FAIL_INSERTS if command == "fail-inserts" else RESTORE_INSERTS
        return [template.format(db=database)]
    if command in ("refuse-disk-space", "restore-disk-space"):
        tables = argument.split(",")
        if not argument or not set(tables) <= TABLES:
            raise ValueError(f"tables must be some of {sorted(TABLES)}, got {argument!r}")
        template = REFUSE_DISK_SPACE if command == "refuse-disk-space" else RESTORE_DISK_SPACE
        return [template.format(db=database, table=table) for table in tables]
    raise ValueError("unknown command")


async def _hold_commits(processor: object, timeout: float = 30) -> dict[int, int]:
    """Make the Kafka consumer's commits hang; return the offsets of the first one held."""
    observation_consumer: Any = getattr(processor, "_consumer", None)
    kafka: Any = getattr(observation_consumer, "_consumer", None)
    if kafka is None:
        raise RuntimeError("the consumer is not running")
    held = asyncio.Event()
    offsets: dict[int, int] = {}

    async def hold(committing: Mapping[Any, int] | None = None) -> None:
        if not held.is_set():
            offsets.update({tp.partition: offset for tp, offset in (committing or {}).items()})
            held.set()
        await asyncio.Event().wait()  # forever (until the process is killed)

    kafka.commit = hold
    await asyncio.wait_for(held.wait(), timeout)
    return offsets


def main() -> int:
    try:
        asyncio.run(_serve())
    except Exception as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    return 0


# ---- parent ----------------------------------------------------------------------------------


@dataclass
class Harness:
    """A running harness: the ``Service`` API (query, metrics, stop) plus commands."""

    service: Service

    def command(self, command: str, timeout: float = 30) -> Any:
        """Send ``command``, wait for its ``ok`` answer and return its JSON result (or None).

        Raises:
            AssertionError: an ``error`` answer, no answer within ``timeout``, or the process
                exited.
        """
        process = self.service.process
        stdin, stdout = process.stdin, process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(f"{command}\n".encode())
        stdin.flush()
        answer = _read_line(stdout, timeout)
        head, _, result = answer.partition(" {")
        assert head == f"ok {command}", f"{command}: {answer!r}\n{self.service.log()}"
        return json.loads("{" + result) if result else None

    def kill(self) -> None:
        """SIGKILL, as a crash would: no flush, no commit, no leaving the group."""
        self.service.client.close()
        self.service.process.kill()
        self.service.process.wait()


def _read_line(stream: IO[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    line = b""
    fd = stream.fileno()
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no answer from the harness within {timeout}s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 1)
            if not chunk:
                raise AssertionError(f"harness exited: {line!r}")
            line += chunk
    return line.decode().strip()


def start_processor_harness(
    data_dir: Path,
    env: Mapping[str, str],
    *,
    project: tuple[str, str, str],
    timeout: float = 90,
) -> Harness:
    """Start the harness on free ports with ``project`` = (id, public key, secret key).

    Raises:
        RuntimeError: it exits or is not healthy within ``timeout`` seconds.
    """
    http_port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    project_id, public_key, secret_key = project
    full_env = {
        **os.environ,
        "OTELFUSE_DATA_DIR": str(data_dir),
        "OTELFUSE_HTTP_ADDRESS": f"127.0.0.1:{http_port}",
        "OTELFUSE_INIT_PROJECT_ID": project_id,
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
        **env,
    }
    log_path = data_dir / "processor-harness.log"
    with log_path.open("ab") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.clients.processor_harness"],
            cwd=REPO,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
    service = Service(
        process,
        f"http://127.0.0.1:{http_port}",
        "",
        project_id,
        public_key,
        secret_key,
        data_dir,
        log_path,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"harness exited with {process.returncode}:\n{service.log()}")
        try:
            if service.client.get("/api/public/health").status_code == 200:
                return Harness(service)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"harness not healthy after {timeout}s:\n{service.log()}")


if __name__ == "__main__":
    sys.exit(main())
