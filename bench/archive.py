"""Archive benchmark (issue 13): what the raw archive costs and how fast replay is.

For each mode (archive off, archive on) a fresh ``otelfuse run`` takes realistic GenAI spans as
OTLP/HTTP protobuf (``bench.spans``) from ``--concurrency`` exporters for ``--seconds``; the
accepted spans per second are the end-to-end ingest rate (an export is answered after its spans
are written). With the archive on, the service is then stopped (which writes the last objects)
and the benchmark reports the archive's bytes per span (compressed objects under
``blobs/raw/v1``) and runs ``otelfuse replay`` over the whole archive (records/s, from its JSON
summary; the data folder's ClickHouse is written again, prices recomputed).

    python -m bench.archive --seconds 60 --concurrency 8 --traces-per-request 50
    python -m bench.archive --seconds 3 --concurrency 2 --traces-per-request 5   # smoke run

Prints a JSON report, also written to ``bench/results/archive-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.report import save_report
from bench.spans import RequestFactory
from tests.support.service import REPO, Service, start_service


async def _load(service: Service, args: argparse.Namespace) -> dict[str, Any]:
    factory = RequestFactory(args.traces_per_request)
    accepted = refused = warm_spans = 0
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    auth = service.authorization

    async def exporter(client: httpx.AsyncClient, stop_at: float, count: bool) -> None:
        nonlocal accepted, refused, warm_spans
        while time.monotonic() < stop_at:
            body, _ = factory.build()
            response = await client.post(
                "/v1/traces",
                content=body,
                headers={"Authorization": auth, "Content-Type": "application/x-protobuf"},
            )
            if response.status_code == 200:
                accepted += factory.spans if count else 0
                warm_spans += 0 if count else factory.spans
            else:
                refused += 1 if count else 0
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))

    async with httpx.AsyncClient(base_url=service.http_url, timeout=60, limits=limits) as client:
        warm = time.monotonic() + args.warmup
        await asyncio.gather(*(exporter(client, warm, False) for _ in range(args.concurrency)))
        started = time.monotonic()
        stop_at = started + args.seconds
        await asyncio.gather(*(exporter(client, stop_at, True) for _ in range(args.concurrency)))
        seconds = time.monotonic() - started
    return {
        "accepted_spans": accepted,
        "warmup_spans": warm_spans,
        "refused_requests": refused,
        "seconds": round(seconds, 3),
        "spans_per_second": round(accepted / seconds, 1),
    }


def _mode(root: Path, archive: bool, args: argparse.Namespace) -> dict[str, Any]:
    data = root / ("on" if archive else "off")
    env = {"OTELFUSE_ARCHIVE_ENABLED": "true" if archive else "false"}
    started = datetime.now(UTC)
    service = start_service(data, env)
    try:
        result = asyncio.run(_load(service, args))
    finally:
        code = service.stop()
    result["exit_code"] = code
    if not archive:
        return result
    objects = list((data / "blobs" / "raw" / "v1").rglob("*.zst"))
    archived_bytes = sum(path.stat().st_size for path in objects)
    archived_spans = max(1, result["accepted_spans"] + result["warmup_spans"])
    result["archive_objects"] = len(objects)
    result["archive_bytes"] = archived_bytes
    result["archive_bytes_per_span"] = round(archived_bytes / archived_spans, 1)
    replay_env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OTELFUSE_DATA_DIR": str(data),
        "OTELFUSE_INIT_PROJECT_ID": service.project_id,
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": service.public_key,
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": service.secret_key,
    }
    window = [
        "--from",
        (started - timedelta(minutes=5)).isoformat(),
        "--to",
        (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        "--json",
    ]
    replay = subprocess.run(
        [sys.executable, "-m", "ingest", "replay", "--project", service.project_id, *window],
        cwd=REPO,
        env=replay_env,
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(replay.stdout[replay.stdout.index("{") :])
    result["replay"] = {
        key: summary[key] for key in ("requests", "records", "bytes", "seconds", "recordsPerSecond")
    }
    return result


def main() -> None:
    """Parse arguments, run both modes, print and save the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--traces-per-request", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otelfuse-bench-archive-") as tmp:
        off = _mode(Path(tmp), False, args)
        on = _mode(Path(tmp), True, args)
    report = {
        "benchmark": "archive",
        "time": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "args": vars(args),
        "archive_off": off,
        "archive_on": on,
        "overhead_ratio": round(1 - on["spans_per_second"] / off["spans_per_second"], 4)
        if off["spans_per_second"]
        else None,
    }
    text = json.dumps(report, indent=2)
    print(text)
    save_report("archive", report)


if __name__ == "__main__":
    main()
