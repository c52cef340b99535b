"""Receiver-alone benchmark: realistic GenAI spans over OTLP/HTTP or OTLP/gRPC into
``otelfuse receiver``, which publishes them to Kafka (tansu, memory storage).

Reports accepted spans/s and, from the receiver process's CPU time (/proc), spans/s per core
of receiver CPU. The load generator and the broker run on the same machine.

    python -m bench.receiver --transport http --seconds 30 --concurrency 8
    python -m bench.receiver --transport grpc --seconds 30 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import grpc
import httpx

from bench.run_ingest import RESULTS, percentile
from bench.spans import RequestFactory
from processors.kafka.config import DEFAULT_OBSERVATIONS_TOPIC
from tests.support.kafka import start_broker
from tests.support.postgres import migrate_with_project, start_postgres
from tests.support.service import start_service

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def http_load(
    url: str, auth: str, factory: RequestFactory, concurrency: int, seconds: float
) -> tuple[int, list[float], dict[int, int]]:
    accepted = 0
    latencies: list[float] = []
    refused: dict[int, int] = {}
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal accepted
            while time.monotonic() < stop_at:
                body, _ = factory.build()
                sent = time.monotonic()
                response = await client.post(
                    "/v1/traces",
                    content=body,
                    headers={"Authorization": auth, "Content-Type": "application/x-protobuf"},
                )
                if response.status_code == 200:
                    accepted += factory.spans
                    latencies.append(time.monotonic() - sent)
                else:
                    refused[response.status_code] = refused.get(response.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted, latencies, refused


async def grpc_load(
    target: str, auth: str, factory: RequestFactory, concurrency: int, seconds: float
) -> tuple[int, list[float], dict[int, int]]:
    accepted = 0
    latencies: list[float] = []
    refused: dict[int, int] = {}
    stop_at = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(
        target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        export = channel.unary_unary(
            EXPORT, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )

        async def worker() -> None:
            nonlocal accepted
            while time.monotonic() < stop_at:
                body, _ = factory.build()
                sent = time.monotonic()
                try:
                    await export(body, metadata=(("authorization", auth),), timeout=60)
                except grpc.aio.AioRpcError as exc:
                    code = exc.code().value[0]
                    refused[code] = refused.get(code, 0) + 1
                    continue
                accepted += factory.spans
                latencies.append(time.monotonic() - sent)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted, latencies, refused


PROJECT = ("proj-bench", "pk-lf-bench", "sk-lf-bench-secret")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transport", choices=("http", "grpc"), default="http")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--traces-per-request", type=int, default=50)
    args = parser.parse_args()

    factory = RequestFactory(args.traces_per_request)
    with tempfile.TemporaryDirectory(prefix="otelfuse-bench-rx-") as tmp:
        postgres = start_postgres()  # the receiver authenticates against PostgreSQL
        url = postgres.create_database("bench")
        migrate_with_project(url, PROJECT)
        project_id, public_key, secret_key = PROJECT
        broker = start_broker(Path(tmp) / "broker")
        broker.create_topics(DEFAULT_OBSERVATIONS_TOPIC, partitions=6)
        service = start_service(
            Path(tmp) / "receiver",
            {
                "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                "OTELFUSE_LOG_LEVEL": "WARNING",
                "OTELFUSE_POSTGRES_URL": url,
                "OTELFUSE_INIT_PROJECT_ID": project_id,
                "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
                "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
            },
            role=("receiver",),
        )
        load = http_load if args.transport == "http" else grpc_load
        target = service.http_url if args.transport == "http" else service.grpc_target
        try:
            asyncio.run(load(target, service.authorization, factory, args.concurrency, args.warmup))
            cpu_before, started = cpu_s(service.process.pid), time.monotonic()
            accepted, latencies, refused = asyncio.run(
                load(target, service.authorization, factory, args.concurrency, args.seconds)
            )
            elapsed = time.monotonic() - started
            cpu = cpu_s(service.process.pid) - cpu_before
        finally:
            service.stop()
            broker.stop()
            postgres.stop()

    report = {
        "command": f"python -m bench.receiver --transport {args.transport} "
        f"--seconds {args.seconds:g} --concurrency {args.concurrency} "
        f"--traces-per-request {args.traces_per_request}",
        "spans_per_request": factory.spans,
        "seconds": round(elapsed, 2),
        "accepted_spans": accepted,
        "accepted_spans_per_s": round(accepted / elapsed),
        "receiver_cpu_cores_used": round(cpu / elapsed, 2),
        "spans_per_s_per_receiver_core": round(accepted / cpu) if cpu else None,
        "refused": refused,
        "export_latency_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "export_latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }
    print(json.dumps(report, indent=2))
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (RESULTS / f"receiver-{args.transport}-{stamp}.json").write_text(
        json.dumps(report, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
