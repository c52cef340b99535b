"""Start-up time and idle memory of ``otelfuse run`` (all-in-one, embedded ClickHouse and
embedded PostgreSQL), on a new data folder and on one from an earlier run.

    python -m bench.startup [--runs 3] [--idle-seconds 10] [--workers N]

For each run: seconds from the process start to the first 200 of ``/api/public/health``, then,
after ``--idle-seconds`` of idling, the resident memory (RSS, MiB) of the otelfuse processes
(the owner and its ``--workers`` receiver worker processes, summed; default: the product's
default, ``ingest.app.settings.available_cpus``; 1 is the single process) and of the embedded
PostgreSQL (the postmaster and its children, summed: shared memory is counted
once per process, so the sum is an upper bound). Prints one line per run and the median.
Measure on a quiet machine (load average < 0.5), one benchmark at a time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from ingest.app.settings import available_cpus
from storage.postgres.embedded import EMBEDDED_DIR, server_pid
from tests.support.service import start_service

MIB = 1024 * 1024


def _tree_rss(pid: int, leave_out: frozenset[int] = frozenset()) -> float:
    """RSS of ``pid`` and its descendants (less the processes ``leave_out``), MiB."""
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        if child.pid in leave_out:
            continue
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / MIB


def _postgres_pids(pid: int | None) -> frozenset[int]:
    if pid is None:
        return frozenset()
    server = psutil.Process(pid)
    return frozenset({pid, *(c.pid for c in server.children(recursive=True))})


def measure(data: Path, idle_s: float, workers: int) -> tuple[float, float, float]:
    """One start: (seconds to healthy, otelfuse RSS MiB summed over the owner and its workers,
    PostgreSQL RSS MiB)."""
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
        otelfuse_mib = _tree_rss(service.process.pid, leave_out=_postgres_pids(pid))
        postgres_mib = _tree_rss(pid) if pid is not None else 0.0
    finally:
        service.stop()
    return ready_s, otelfuse_mib, postgres_mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=available_cpus())
    args = parser.parse_args()
    print(f"load average at start: {psutil.getloadavg()}; OTELFUSE_WORKERS={args.workers}")
    for label, reuse in (("new data folder", False), ("existing data folder", True)):
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.runs):
                data = Path(tmp) / ("data" if reuse else f"data-{run}")
                if reuse and run == 0:
                    measure(data, 0, args.workers)  # creates the folder; not counted
                results.append(measure(data, args.idle_seconds, args.workers))
                ready, ours, pg = results[-1]
                print(
                    f"{label} run {run + 1}: ready {ready:.2f} s, otelfuse {ours:.0f} MiB, "
                    f"postgres {pg:.0f} MiB"
                )
        ready_m = statistics.median(r[0] for r in results)
        ours_m = statistics.median(r[1] for r in results)
        pg_m = statistics.median(r[2] for r in results)
        print(
            f"{label} median: ready {ready_m:.2f} s, otelfuse {ours_m:.0f} MiB, "
            f"postgres {pg_m:.0f} MiB"
        )


if __name__ == "__main__":
    main()
