"""Load benchmark: realistic GenAI spans as OTLP/HTTP protobuf into ``otelfuse run``.

Starts a fresh all-in-one instance (embedded ClickHouse in a temp folder), runs
``--concurrency`` exporters sending requests of ``--traces-per-request`` traces (3 spans each)
for ``--seconds``, and meanwhile samples ingest-to-queryable latency: every ``--probe-every``
seconds one request's first trace is read back with ``GET /api/public/traces/{id}`` as soon as
its export returned; the latency runs from sending the export to the trace being returned
(polling every 10 ms if it is not found yet). Prints a JSON report (also written to
bench/results/).

    python -m bench.run_ingest --seconds 60 --concurrency 8 --traces-per-request 50

``--workers N`` (default ``OTELFUSE_WORKERS``, else the product default: the CPUs available,
``ingest.app.settings.available_cpus``) starts the service with N receiver worker
processes (docs/architecture.md "Worker processes"); compare ``--workers 1`` and ``--workers 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.report import save_report
from bench.spans import RequestFactory
from ingest.app.settings import available_cpus
from tests.support.service import start_service


@dataclass
class Tally:
    accepted_spans: int = 0
    requests: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    export_latency_s: list[float] = field(default_factory=list)
    queryable_latency_s: list[float] = field(default_factory=list)
    next_probe: float = 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def exporter(
    client: httpx.AsyncClient,
    factory: RequestFactory,
    auth: str,
    stop_at: float,
    tally: Tally,
    probes: asyncio.Queue[tuple[str, float]],
    probe_every_s: float,
) -> None:
    while time.monotonic() < stop_at:
        body, trace_ids = factory.build()
        sent = time.monotonic()
        response = await client.post(
            "/v1/traces",
            content=body,
            headers={"Authorization": auth, "Content-Type": "application/x-protobuf"},
        )
        done = time.monotonic()
        tally.requests += 1
        if response.status_code == 200:
            tally.accepted_spans += factory.spans
            tally.export_latency_s.append(done - sent)
            if sent >= tally.next_probe:
                tally.next_probe = sent + probe_every_s
                probes.put_nowait((trace_ids[0], sent))
        else:
            tally.refused[response.status_code] = tally.refused.get(response.status_code, 0) + 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def prober(
    client: httpx.AsyncClient, auth: str, probes: asyncio.Queue[tuple[str, float]], tally: Tally
) -> None:
    while True:
        trace_id, sent = await probes.get()
        while True:
            response = await client.get(
                f"/api/public/traces/{trace_id}", headers={"Authorization": auth}
            )
            if response.status_code == 200:
                tally.queryable_latency_s.append(time.monotonic() - sent)
                break
            await asyncio.sleep(0.01)
        probes.task_done()


async def run(args: argparse.Namespace, http_url: str, auth: str) -> tuple[Tally, float]:
    """Warm up, then load for ``args.seconds``; returns the tally and the measured seconds."""
    tally = Tally()
    factory = RequestFactory(args.traces_per_request)
    probes: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    async with httpx.AsyncClient(base_url=http_url, timeout=60, limits=limits) as client:
        # warm-up: first imports, first parts, model caches
        warm_stop = time.monotonic() + args.warmup
        warm = Tally()
        await asyncio.gather(
            *(
                exporter(client, factory, auth, warm_stop, warm, asyncio.Queue(), 1e9)
                for _ in range(args.concurrency)
            )
        )
        probe_task = asyncio.create_task(prober(client, auth, probes, tally))
        started = time.monotonic()
        stop_at = started + args.seconds
        await asyncio.gather(
            *(
                exporter(client, factory, auth, stop_at, tally, probes, args.probe_every)
                for _ in range(args.concurrency)
            )
        )
        elapsed = time.monotonic() - started
        await asyncio.wait_for(probes.join(), 30)
        probe_task.cancel()
    return tally, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--traces-per-request", type=int, default=50)
    parser.add_argument("--probe-every", type=float, default=0.5)
    workers = os.environ.get("OTELFUSE_WORKERS")
    default_workers = int(workers) if workers else available_cpus()
    parser.add_argument("--workers", type=int, default=default_workers)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="otelfuse-bench-") as tmp:
        env = {"OTELFUSE_LOG_LEVEL": "WARNING", "OTELFUSE_WORKERS": str(args.workers)}
        service = start_service(Path(tmp), env)
        try:
            tally, elapsed = asyncio.run(run(args, service.http_url, service.authorization))
            stored = service.get_json("/api/public/observations", {"limit": 1})["meta"]
        finally:
            service.stop()

    report = {
        "command": "python -m bench.run_ingest "
        f"--seconds {args.seconds:g} --concurrency {args.concurrency} "
        f"--traces-per-request {args.traces_per_request} --workers {args.workers}",
        "workers": args.workers,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "spans_per_request": args.traces_per_request * 3,
        "seconds": round(elapsed, 2),
        "requests": tally.requests,
        "accepted_spans": tally.accepted_spans,
        "accepted_spans_per_s": round(tally.accepted_spans / elapsed),
        "refused_requests": tally.refused,
        "export_latency_p50_ms": round(percentile(tally.export_latency_s, 0.5) * 1000, 1),
        "export_latency_p99_ms": round(percentile(tally.export_latency_s, 0.99) * 1000, 1),
        "queryable_probes": len(tally.queryable_latency_s),
        "ingest_to_queryable_p50_ms": round(percentile(tally.queryable_latency_s, 0.5) * 1000, 1),
        "ingest_to_queryable_p99_ms": round(percentile(tally.queryable_latency_s, 0.99) * 1000, 1),
        "ingest_to_queryable_mean_ms": round(
            statistics.fmean(tally.queryable_latency_s or [float("nan")]) * 1000, 1
        ),
        "observations_stored": stored["totalItems"],
    }
    print(json.dumps(report, indent=2))
    save_report("ingest", report)


if __name__ == "__main__":
    main()
