"""Start-up time and idle memory of ``otelfuse run`` (all-in-one, embedded ClickHouse and
embedded PostgreSQL), on a new data folder and on one from an earlier run.

    python -m bench.startup [--runs 3] [--idle-seconds 10] [--workers N]

For each run: seconds from the process start to the first 200 of ``/api/public/health``, then,
after ``--idle-seconds`` of idling, the memory of the otelfuse processes (the owner, its
``--workers`` receiver worker processes, default: the product's default,
``ingest.app.settings.available_cpus``, 1 is the single process) and of the embedded
PostgreSQL (the postmaster and its children). Prints one line per run and the medians.

The headline is the RSS summed over the processes (as the figures before it): it counts the
pages processes share (the interpreter, shared libraries, PostgreSQL's shared buffers) once
per process, so it is an upper bound. Beside it, summed the same way (``psutil``
``memory_full_info``, from ``/proc/PID/smaps``; proc(5)):

- PSS: each page divided by the number of processes that map it; the sum over all the
  processes of a machine is its memory in use. A shared page is also split with processes
  outside otelfuse that map the same file (another Python of the same interpreter, another
  program loading chdb's library), so PSS and USS depend on what else runs.
- USS: pages only this process maps, what stopping it would give back.
- anonymous: RSS less the file-backed and shared-memory part (``RssAnon`` of
  ``/proc/PID/status``): heap, Python objects, ClickHouse's allocations. The file-backed rest
  (library code, mostly chdb's ≈ 180 MiB) is clean page cache the kernel may reclaim and read
  again.
- PSS anonymous: the anonymous part of PSS (``Pss_Anon`` of ``/proc/PID/smaps_rollup``).
  Anonymous pages are shared only between a process and those it forked, all otelfuse's
  here, so its sum is the anonymous memory otelfuse holds, each page once, whatever else
  runs on the machine (docs/benchmarks.md "Idle memory with workers, fourth round": the
  figure that compares forked workers with separate interpreters).

Per process: the owner's RSS / PSS / USS and a worker's (the mean over the workers).
Measure on a quiet machine (load average < 0.5), one benchmark at a time; the memory figures
are little disturbed by other load, the ready times are.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import psutil

from ingest.app.settings import available_cpus
from storage.postgres.embedded import EMBEDDED_DIR, server_pid
from tests.support.service import start_service

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Memory:
    """Memory of one process or a sum over processes, MiB (module docstring)."""

    rss: float = 0.0
    pss: float = 0.0
    uss: float = 0.0
    anonymous: float = 0.0
    pss_anonymous: float = 0.0

    def __add__(self, other: Memory) -> Memory:
        return Memory(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def text(self) -> str:
        """``RSS / PSS / USS`` rounded to MiB."""
        return f"{self.rss:.0f}/{self.pss:.0f}/{self.uss:.0f}"


def memory_of(process: psutil.Process) -> Memory:
    """``process``'s memory (raises ``psutil.NoSuchProcess`` when it is gone)."""
    info = process.memory_full_info()
    anonymous = (info.rss - info.shared) / MIB
    return Memory(info.rss / MIB, info.pss / MIB, info.uss / MIB, anonymous, _pss_anon(process))


def _pss_anon(process: psutil.Process) -> float:
    """``Pss_Anon`` of ``process`` (``/proc/PID/smaps_rollup``, Linux ≥ 5.12), MiB; 0 when
    the kernel does not report it."""
    try:
        rollup = Path(f"/proc/{process.pid}/smaps_rollup").read_text()
    except FileNotFoundError:
        raise psutil.NoSuchProcess(process.pid) from None
    for line in rollup.splitlines():
        if line.startswith("Pss_Anon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def total(memories: Iterable[Memory]) -> Memory:
    """The sum of ``memories``."""
    result = Memory()
    for memory in memories:
        result += memory
    return result


def median(memories: Sequence[Memory]) -> Memory:
    """The median of each field of ``memories``."""
    return Memory(
        *(statistics.median(getattr(m, f.name) for m in memories) for f in fields(Memory))
    )


def _tree(pid: int, leave_out: frozenset[int] = frozenset()) -> list[Memory]:
    """Memory of ``pid`` (first) and of each of its live descendants not in ``leave_out``."""
    process = psutil.Process(pid)
    result = [memory_of(process)]
    for child in process.children(recursive=True):
        if child.pid in leave_out:
            continue
        try:
            result.append(memory_of(child))
        except psutil.NoSuchProcess:
            continue
    return result


def _postgres_pids(pid: int | None) -> frozenset[int]:
    if pid is None:
        return frozenset()
    server = psutil.Process(pid)
    return frozenset({pid, *(c.pid for c in server.children(recursive=True))})


@dataclass(frozen=True, slots=True)
class Run:
    """One start: seconds to healthy and the idle memory (MiB)."""

    ready_s: float
    otelfuse: Memory
    """Summed over the owner and its workers."""
    owner: Memory
    worker: Memory
    """The mean over the workers (zero without workers)."""
    postgres: Memory
    """Summed over the postmaster and its children."""

    def text(self) -> str:
        """One report line."""
        o, p = self.otelfuse, self.postgres
        return (
            f"ready {self.ready_s:.2f} s, otelfuse {o.rss:.0f} MiB RSS (PSS {o.pss:.0f}, "
            f"USS {o.uss:.0f}, anonymous {o.anonymous:.0f}, PSS anonymous "
            f"{o.pss_anonymous:.0f}; RSS/PSS/USS owner "
            f"{self.owner.text()}, per worker {self.worker.text()}), postgres {p.rss:.0f} MiB "
            f"RSS (PSS {p.pss:.0f}, USS {p.uss:.0f})"
        )


def measure(data: Path, idle_s: float, workers: int) -> Run:
    """One start of ``otelfuse run`` on ``data`` with ``workers`` processes, measured after
    ``idle_s`` seconds of idling."""
    env = {
        "OTELFUSE_WORKERS": str(workers),
        "OTELFUSE_INIT_PROJECT_ID": "",
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": "",
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": "",
    }
    started = time.monotonic()
    service = start_service(data, env)
    ready_s = time.monotonic() - started
    try:
        time.sleep(idle_s)
        pid = server_pid(data / EMBEDDED_DIR)
        ours = _tree(service.process.pid, leave_out=_postgres_pids(pid))
        postgres = total(_tree(pid)) if pid is not None else Memory()
    finally:
        service.stop()
    owner, workers_memory = ours[0], ours[1:]
    n, summed = len(workers_memory), total(workers_memory)
    per_worker = Memory(*(getattr(summed, f.name) / n for f in fields(Memory))) if n else Memory()
    return Run(ready_s, total(ours), owner, per_worker, postgres)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=available_cpus())
    args = parser.parse_args()
    print(f"load average at start: {psutil.getloadavg()}; OTELFUSE_WORKERS={args.workers}")
    for label, reuse in (("new data folder", False), ("existing data folder", True)):
        results: list[Run] = []
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.runs):
                data = Path(tmp) / ("data" if reuse else f"data-{run}")
                if reuse and run == 0:
                    measure(data, 0, args.workers)  # creates the folder; not counted
                results.append(measure(data, args.idle_seconds, args.workers))
                print(f"{label} run {run + 1}: {results[-1].text()}")
        middle = Run(
            statistics.median(r.ready_s for r in results),
            median([r.otelfuse for r in results]),
            median([r.owner for r in results]),
            median([r.worker for r in results]),
            median([r.postgres for r in results]),
        )
        print(f"{label} median: {middle.text()}")


if __name__ == "__main__":
    main()
