"""Blob benchmark against a fresh ``otelfuse run``: Langfuse media uploads per second, and the
cost of offloading oversized fields on the ingest rate (docs/benchmarks.md).

1. **media**: ``--concurrency`` clients each loop over what the Langfuse SDK does for one
   media item (langfuse-python ``langfuse/_task_manager/media_manager.py``): ``POST
   /api/public/media`` → PUT the bytes to ``uploadUrl`` with the SDK's headers (a presigned S3
   URL with ``--backend s3``, otelfuse's signed upload route with ``local``) → ``PATCH
   /api/public/media/{id}``. Every item has new random content of ``--media-bytes``.
2. **ingest**: OTLP/HTTP protobuf exports of ``--spans-per-request`` spans for ``--seconds``,
   twice: once without large inputs (baseline), once with ``--large-fraction`` of the spans
   carrying an input of ``--large-bytes`` (offloaded to the blob store before queueing,
   ``storage.blobs.claim_check``). Reports spans/s and MB/s of both.

With ``--backend s3`` a SeaweedFS server (``tests.support.s3``) is started for the run.
Prints a JSON report (also written to bench/results/).

    python -m bench.media --seconds 30 --concurrency 8
    python -m bench.media --backend s3 --seconds 30 --concurrency 8
    python -m bench.media --seconds 3 --media-bytes 10000 --large-bytes 300000   # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import platform
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.report import save_report
from tests.support.oversized import export_body, span
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, SeaweedFS, start_seaweedfs
from tests.support.service import Service, start_service

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Tally:
    done: int = 0
    bytes: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    latency_s: list[float] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        self.failed[reason] = self.failed.get(reason, 0) + 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def upload_one(client: httpx.AsyncClient, auth: str, size: int, tally: Tally) -> None:
    """One media item the SDK's way: POST, PUT, PATCH."""
    data = PNG_MAGIC + os.urandom(max(0, size - len(PNG_MAGIC)))
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    started = time.perf_counter()
    asked = await client.post(
        "/api/public/media",
        json={
            "traceId": uuid.uuid4().hex,
            "contentType": "image/png",
            "contentLength": len(data),
            "sha256Hash": sha,
            "field": "input",
        },
        headers={"Authorization": auth},
    )
    if asked.status_code != 201:
        tally.fail(f"post {asked.status_code}")
        return
    media_id, url = asked.json()["mediaId"], asked.json()["uploadUrl"]
    put = await client.put(
        url,
        content=data,
        headers={
            "Content-Type": "image/png",
            "x-amz-checksum-sha256": sha,
            "x-ms-blob-type": "BlockBlob",
        },
    )
    upload_ms = int((time.perf_counter() - started) * 1000)
    patched = await client.patch(
        f"/api/public/media/{media_id}",
        json={
            "uploadedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "uploadHttpStatus": put.status_code,
            "uploadHttpError": None if put.is_success else put.text[:200],
            "uploadTimeMs": upload_ms,
        },
        headers={"Authorization": auth},
    )
    if not put.is_success:
        tally.fail(f"put {put.status_code}")
    elif patched.status_code >= 300:
        tally.fail(f"patch {patched.status_code}")
    else:
        tally.done += 1
        tally.bytes += len(data)
        tally.latency_s.append(time.perf_counter() - started)


async def media_phase(service: Service, args: argparse.Namespace) -> tuple[Tally, float]:
    tally = Tally()
    async with httpx.AsyncClient(base_url=service.http_url, timeout=60) as client:
        for _ in range(2):  # warm up: connections, first blob folder / bucket path
            await upload_one(client, service.authorization, args.media_bytes, Tally())
        stop_at = time.monotonic() + args.seconds
        started = time.monotonic()

        async def worker() -> None:
            while time.monotonic() < stop_at:
                await upload_one(client, service.authorization, args.media_bytes, tally)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return tally, time.monotonic() - started


def ingest_body(spans: int, large_fraction: float, large: str, rng: random.Random) -> bytes:
    """One export: ``spans`` spans of one trace each, ``large_fraction`` of them (on average)
    with an input of ``len(large)`` characters made unique by a prefix."""
    built = []
    for i in range(spans):
        trace_id = os.urandom(16)
        if rng.random() < large_fraction:
            value = uuid.uuid4().hex + large[32:]
        else:
            value = json.dumps([{"role": "user", "content": f"question {i} " * 40}])
        built.append(span(trace_id, "chat gpt-4o", value))
    return export_body(*built)


async def ingest_phase(
    service: Service, args: argparse.Namespace, large_fraction: float
) -> tuple[Tally, float]:
    tally = Tally()
    rng = random.Random(7)
    large = base64.b64encode(os.urandom(args.large_bytes)).decode()[: args.large_bytes]
    headers = {"Authorization": service.authorization, "Content-Type": "application/x-protobuf"}
    async with httpx.AsyncClient(base_url=service.http_url, timeout=120) as client:
        stop_at = time.monotonic() + args.seconds
        started = time.monotonic()

        async def worker() -> None:
            while time.monotonic() < stop_at:
                body = ingest_body(args.spans_per_request, large_fraction, large, rng)
                sent = time.perf_counter()
                response = await client.post("/v1/traces", content=body, headers=headers)
                if response.status_code == 200:
                    tally.done += args.spans_per_request
                    tally.bytes += len(body)
                    tally.latency_s.append(time.perf_counter() - sent)
                else:
                    tally.fail(str(response.status_code))

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return tally, time.monotonic() - started


def summary(tally: Tally, elapsed: float, unit: str) -> dict[str, Any]:
    return {
        unit: tally.done,
        f"{unit}_per_s": round(tally.done / elapsed, 1),
        "mb_per_s": round(tally.bytes / elapsed / 1e6, 2),
        "failed": tally.failed,
        "latency_p50_ms": round(percentile(tally.latency_s, 0.5) * 1000, 1),
        "latency_p99_ms": round(percentile(tally.latency_s, 0.99) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("local", "s3"), default="local")
    parser.add_argument("--seconds", type=float, default=30, help="per phase")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--media-bytes", type=int, default=100_000)
    parser.add_argument("--spans-per-request", type=int, default=10)
    parser.add_argument("--large-fraction", type=float, default=0.1)
    parser.add_argument("--large-bytes", type=int, default=2 * 1024 * 1024)
    args = parser.parse_args()

    s3: SeaweedFS | None = None
    with tempfile.TemporaryDirectory(prefix="otelfuse-bench-media-") as tmp:
        env = {"OTELFUSE_LOG_LEVEL": "WARNING"}
        if args.backend == "s3":
            s3 = start_seaweedfs()
            env |= {
                "OTELFUSE_BLOB_BACKEND": "s3",
                "OTELFUSE_S3_ENDPOINT": s3.endpoint,
                "OTELFUSE_S3_BUCKET": "otelfuse-bench",
                "OTELFUSE_S3_REGION": REGION,
                "OTELFUSE_S3_ACCESS_KEY": ACCESS_KEY,
                "OTELFUSE_S3_SECRET_KEY": SECRET_KEY,
            }
        service = start_service(Path(tmp), env)
        try:
            media, media_s = asyncio.run(media_phase(service, args))
            baseline, baseline_s = asyncio.run(ingest_phase(service, args, 0.0))
            offload, offload_s = asyncio.run(ingest_phase(service, args, args.large_fraction))
        finally:
            service.stop()
            if s3 is not None:
                s3.stop()

    base, off = summary(baseline, baseline_s, "spans"), summary(offload, offload_s, "spans")
    report = {
        "command": "python -m bench.media "
        f"--backend {args.backend} --seconds {args.seconds:g} --concurrency {args.concurrency} "
        f"--media-bytes {args.media_bytes} --spans-per-request {args.spans_per_request} "
        f"--large-fraction {args.large_fraction:g} --large-bytes {args.large_bytes}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "media_uploads": summary(media, media_s, "uploads"),
        "ingest_without_large_inputs": base,
        "ingest_with_large_inputs": off,
        "spans_per_s_ratio": round(off["spans_per_s"] / base["spans_per_s"], 3)
        if base["spans_per_s"]
        else None,
    }
    print(json.dumps(report, indent=2))
    save_report(f"media-{args.backend}", report)


if __name__ == "__main__":
    main()
