"""Soak: a steady load on ``otelfuse run`` for a long time; resources must stay flat.

Starts a fresh all-in-one instance, sends ``--rate`` realistic GenAI spans per second
(``bench.spans``: requests of ``--traces-per-request`` traces, 3 spans each, OTLP/HTTP
protobuf) for ``--seconds``, and every ``--sample-every`` seconds records the otelfuse process's
resident memory (RSS, MiB, and its anonymous part: RSS less file-backed pages such as
libchdb's code), threads and open file descriptors, the RSS of its receiver worker processes
(``--workers``; every descendant but PostgreSQL's), the embedded PostgreSQL's RSS, and the
embedded ClickHouse's own accounting (``otelfuse_clickhouse_memory_tracked_bytes`` and the sum
of ``otelfuse_clickhouse_cache_bytes``, from ``/metrics``).
At the end it counts the stored observations through the query API: every span of every
answered export must be there exactly once (span ids are unique, so the count of observations
equals the accepted spans only when none is lost and none doubled). Refused exports (503) are
retried after ``Retry-After`` and counted.

    python -m bench.soak --seconds 1800 --rate 2000 [--workers 2]

Prints one line per sample and a JSON report (also written to bench/results/). The report's
``flat`` figures compare the maximum after the warm-up (the first ``--warmup`` seconds) with the
maximum of the last third of the run; after the load, ``--cooldown`` idle seconds are sampled too
(is memory given back?).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.report import RESULTS
from bench.spans import SPANS_PER_TRACE, RequestFactory
from storage.postgres.embedded import EMBEDDED_DIR, server_pid
from tests.support.service import Service, start_service

MIB = 1024 * 1024


@dataclass
class Sample:
    """Resources of the service at ``at_s`` seconds into the load."""

    at_s: float
    rss_mib: float
    anon_mib: float
    threads: int
    fds: int
    postgres_rss_mib: float
    accepted_spans: int
    workers_rss_mib: float = 0.0
    clickhouse_tracked_mib: float = 0.0
    clickhouse_caches_mib: float = 0.0


@dataclass
class Report:
    """What a soak run measured."""

    seconds: float
    rate: int
    accepted_spans: int = 0
    stored_spans: int = 0
    refused_requests: int = 0
    failed_requests: int = 0
    samples: list[Sample] = field(default_factory=list)
    warmup_s: float = 0.0

    def peak(self, name: str, start_s: float, end_s: float) -> float:
        """The highest value of sample field ``name`` with ``start_s <= at_s <= end_s``."""
        values = [getattr(s, name) for s in self.samples if start_s <= s.at_s <= end_s]
        return float(max(values)) if values else float("nan")

    def after_load(self, name: str) -> float:
        """Sample field ``name`` at the end of the idle time after the load."""
        return float(getattr(self.samples[-1], name))

    def flat(self) -> dict[str, tuple[float, float]]:
        """Per resource: (peak until the end of the warm-up, peak of the last third)."""
        last = self.seconds * 2 / 3
        return {
            name: (self.peak(name, 0, self.warmup_s), self.peak(name, last, self.seconds))
            for name in (
                "rss_mib",
                "workers_rss_mib",
                "anon_mib",
                "threads",
                "fds",
                "postgres_rss_mib",
                "clickhouse_tracked_mib",
                "clickhouse_caches_mib",
            )
        }


def _postgres_rss(data: Path) -> float:
    pid = server_pid(data / EMBEDDED_DIR)
    if pid is None:
        return 0.0
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / MIB


def _workers_rss(process: psutil.Process) -> float:
    """RSS (MiB) summed over the service's descendants that are not PostgreSQL: its receiver
    worker processes (``OTELFUSE_WORKERS`` > 1)."""
    total = 0
    for child in process.children(recursive=True):
        try:
            if not child.name().startswith("postgres"):
                total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / MIB


def _engine_memory(service: Service) -> tuple[float, float]:
    """(tracked, caches) MiB of the embedded ClickHouse, from the service's ``/metrics``
    (``storage.clickhouse.telemetry``, sampled by the service every 10 s)."""
    text = service.client.get("/metrics").text
    tracked = caches = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "otelfuse_clickhouse_memory_tracked_bytes":
            tracked = sum(s.value for s in family.samples)
        elif family.name == "otelfuse_clickhouse_cache_bytes":
            caches = sum(s.value for s in family.samples)
    return round(tracked / MIB, 1), round(caches / MIB, 1)


def _sample(service: Service, at_s: float, accepted: int) -> Sample:
    process = psutil.Process(service.process.pid)
    memory = process.memory_info()
    tracked, caches = _engine_memory(service)
    return Sample(
        at_s=round(at_s, 1),
        rss_mib=round(memory.rss / MIB, 1),
        # RSS less the file-backed pages (mostly libchdb's code: clean, shared, reclaimable)
        anon_mib=round((memory.rss - memory.shared) / MIB, 1),
        threads=process.num_threads(),
        fds=process.num_fds(),
        postgres_rss_mib=round(_postgres_rss(service.data_dir), 1),
        accepted_spans=accepted,
        workers_rss_mib=round(_workers_rss(process), 1),
        clickhouse_tracked_mib=tracked,
        clickhouse_caches_mib=caches,
    )


async def _load(service: Service, args: argparse.Namespace, report: Report) -> None:
    factory = RequestFactory(args.traces_per_request)
    interval = factory.spans / args.rate
    started = time.monotonic()
    stop_at = started + args.seconds
    next_sample = started

    async def sampler() -> None:
        nonlocal next_sample
        while time.monotonic() < stop_at:
            now = time.monotonic()
            if now >= next_sample:
                sample = _sample(service, now - started, report.accepted_spans)
                report.samples.append(sample)
                print(json.dumps(asdict(sample)), flush=True)
                next_sample += args.sample_every
            await asyncio.sleep(max(0.0, next_sample - time.monotonic()))

    async def sender(client: httpx.AsyncClient, offset: float) -> None:
        due = started + offset
        # both ends: a rate the service cannot reach leaves ``due`` behind the clock, and the
        # load must still stop at ``--seconds``, where the sampler stops
        while due < stop_at and time.monotonic() < stop_at:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due += interval * args.concurrency
            body, _ = factory.build()
            while True:
                try:
                    response = await client.post("/v1/traces", content=body, headers=headers)
                except httpx.TransportError:
                    report.failed_requests += 1
                    await asyncio.sleep(1)
                    continue
                if response.status_code == 200:
                    report.accepted_spans += factory.spans
                    break
                if response.status_code == 503:
                    report.refused_requests += 1
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                    continue
                report.failed_requests += 1
                break

    headers = {"Authorization": service.authorization, "Content-Type": "application/x-protobuf"}
    limits = httpx.Limits(max_connections=args.concurrency + 1)
    async with httpx.AsyncClient(base_url=service.http_url, timeout=60, limits=limits) as client:
        await asyncio.gather(
            sampler(), *(sender(client, i * interval) for i in range(args.concurrency))
        )


def run(args: argparse.Namespace) -> Report:
    """Run one soak (see module docstring) and return its report."""
    report = Report(seconds=args.seconds, rate=args.rate, warmup_s=args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        env = {} if args.workers is None else {"OTELFUSE_WORKERS": str(args.workers)}
        service = start_service(Path(tmp) / "data", env)
        try:
            asyncio.run(_load(service, args, report))
            report.samples.append(_sample(service, args.seconds, report.accepted_spans))
            for step in range(1, int(args.cooldown // args.sample_every) + 1):  # idle after it
                time.sleep(args.sample_every)
                at_s = args.seconds + step * args.sample_every
                report.samples.append(_sample(service, at_s, report.accepted_spans))
                print(json.dumps(asdict(report.samples[-1])), flush=True)
            traces = service.get_json("/api/public/observations", {"limit": 1})
            report.stored_spans = int(traces["meta"]["totalItems"])
        finally:
            service.stop()
    return report


def parser() -> argparse.ArgumentParser:
    """The command-line options (also used by ``tests/soak``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--rate", type=int, default=2000, help="spans per second")
    parser.add_argument("--traces-per-request", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sample-every", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=180)
    parser.add_argument(
        "--workers", type=int, default=None, help="OTELFUSE_WORKERS (default: one process)"
    )
    parser.add_argument(
        "--cooldown", type=float, default=60, help="idle seconds sampled after the load"
    )
    return parser


def main() -> None:
    args = parser().parse_args()
    print(f"load average at start: {psutil.getloadavg()}", flush=True)
    report = run(args)
    summary = {
        "command": "python -m bench.soak "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "machine": f"{platform.machine()}, {psutil.cpu_count()} cores",
        "accepted_spans": report.accepted_spans,
        "stored_spans": report.stored_spans,
        "refused_requests": report.refused_requests,
        "failed_requests": report.failed_requests,
        "spans_per_trace": SPANS_PER_TRACE,
        "flat (peak in warm-up, peak in last third)": report.flat(),
        "peak during the load (rss_mib + workers_rss_mib)": max(
            s.rss_mib + s.workers_rss_mib for s in report.samples if s.at_s <= report.seconds
        ),
        "idle after the load (rss_mib, workers_rss_mib, anon_mib, threads, fds)": [
            report.after_load(name)
            for name in ("rss_mib", "workers_rss_mib", "anon_mib", "threads", "fds")
        ],
        "samples": [asdict(s) for s in report.samples],
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"soak-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "samples"}, indent=2))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
