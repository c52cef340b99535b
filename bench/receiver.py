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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx

from bench.report import save_report
from bench.run_ingest import percentile
from bench.spans import RequestFactory
from processors.kafka.config import DEFAULT_OBSERVATIONS_TOPIC
from tests.support.kafka import start_broker
from tests.support.postgres import migrate_with_project, start_postgres
from tests.support.service import Service, start_service

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROJECT = ("proj-bench", "pk-lf-bench", "sk-lf-bench-secret")

Body = Callable[[], bytes]
"""Returns the next serialized ``ExportTraceServiceRequest`` to send."""


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    """What ``concurrency`` exporters got in one timed window."""

    accepted_spans: int = 0
    latencies_s: list[float] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)
    """Refused exports by HTTP status (``http``) or gRPC status code (``grpc``)."""


async def http_load(
    url: str, auth: str, next_body: Body, spans: int, concurrency: int, seconds: float
) -> Load:
    """Exporters POSTing ``next_body()`` (``spans`` spans each) to ``url``/v1/traces as
    OTLP/HTTP protobuf until ``seconds`` have passed; a 200 counts its spans as accepted."""
    load = Load()
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < stop_at:
                body = next_body()
                sent = time.monotonic()
                response = await client.post(
                    "/v1/traces",
                    content=body,
                    headers={"Authorization": auth, "Content-Type": "application/x-protobuf"},
                )
                if response.status_code == 200:
                    load.accepted_spans += spans
                    load.latencies_s.append(time.monotonic() - sent)
                else:
                    code = response.status_code
                    load.refused[code] = load.refused.get(code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return load


async def grpc_load(
    target: str, auth: str, next_body: Body, spans: int, concurrency: int, seconds: float
) -> Load:
    """Exporters calling OTLP/gRPC ``TraceService/Export`` on ``target`` with ``next_body()``
    (``spans`` spans each) until ``seconds`` have passed; an OK counts its spans as accepted."""
    load = Load()
    stop_at = time.monotonic() + seconds
    async with grpc.aio.insecure_channel(
        target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        export = channel.unary_unary(
            EXPORT, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )

        async def worker() -> None:
            while time.monotonic() < stop_at:
                body = next_body()
                sent = time.monotonic()
                try:
                    await export(body, metadata=(("authorization", auth),), timeout=60)
                except grpc.aio.AioRpcError as exc:
                    code = exc.code().value[0]
                    load.refused[code] = load.refused.get(code, 0) + 1
                    continue
                load.accepted_spans += spans
                load.latencies_s.append(time.monotonic() - sent)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return load


@dataclass
class Measurement:
    """One timed load against one process: ``load`` over ``seconds`` of wall time, costing
    ``cpu_s`` CPU seconds of the process; ``warmup_spans`` were accepted before the window."""

    load: Load
    seconds: float
    cpu_s: float
    warmup_spans: int

    @property
    def spans_per_s(self) -> int:
        return round(self.load.accepted_spans / self.seconds)

    @property
    def cores_used(self) -> float:
        return round(self.cpu_s / self.seconds, 2)

    @property
    def spans_per_core_s(self) -> int | None:
        """Accepted spans per CPU second of the process (``None`` if it used none)."""
        return round(self.load.accepted_spans / self.cpu_s) if self.cpu_s else None

    def latency_ms(self, q: float) -> float:
        return round(percentile(self.load.latencies_s, q) * 1000, 1)


def measure(
    transport: str,
    target: str,
    auth: str,
    next_body: Body,
    spans: int,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    pid: int,
    settle: Callable[[int], None] | None = None,
) -> Measurement:
    """Warm up for ``warmup`` s, then load ``target`` over ``transport`` (``http``: a base URL,
    ``grpc``: ``host:port``) for ``seconds`` and read process ``pid``'s CPU time around it.

    ``settle(total_accepted_spans)``, if given, runs after the load and before the final CPU
    reading (with the spans accepted in warm-up and window), so work the process does after
    answering (a collector that answers before it exports) is counted.
    """
    run = http_load if transport == "http" else grpc_load
    warm = asyncio.run(run(target, auth, next_body, spans, concurrency, warmup))
    cpu_before, started = cpu_s(pid), time.monotonic()
    load = asyncio.run(run(target, auth, next_body, spans, concurrency, seconds))
    elapsed = time.monotonic() - started
    if settle is not None:
        settle(warm.accepted_spans + load.accepted_spans)
    return Measurement(load, elapsed, cpu_s(pid) - cpu_before, warm.accepted_spans)


@contextmanager
def otelfuse_receiver(
    tmp: Path, bootstrap: str, env: Mapping[str, str] | None = None
) -> Iterator[Service]:
    """``otelfuse receiver`` publishing to the broker at ``bootstrap`` (its observations topic
    must exist), authenticating against a fresh PostgreSQL holding ``PROJECT``, with ``env``
    added to its environment (e.g. ``OTELFUSE_KAFKA_COMPRESSION``); both stopped on exit."""
    postgres = start_postgres()
    try:
        url = postgres.create_database("bench")
        migrate_with_project(url, PROJECT)
        project_id, public_key, secret_key = PROJECT
        service = start_service(
            tmp / "receiver",
            {
                "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "OTELFUSE_LOG_LEVEL": "WARNING",
                "OTELFUSE_POSTGRES_URL": url,
                "OTELFUSE_INIT_PROJECT_ID": project_id,
                "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
                "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
                **(env or {}),
            },
            role=("receiver",),
        )
        try:
            yield service
        finally:
            service.stop()
    finally:
        postgres.stop()


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
        broker = start_broker(Path(tmp) / "broker")
        try:
            broker.create_topics(DEFAULT_OBSERVATIONS_TOPIC, partitions=6)
            with otelfuse_receiver(Path(tmp), broker.bootstrap) as service:
                target = service.http_url if args.transport == "http" else service.grpc_target
                result = measure(
                    args.transport,
                    target,
                    service.authorization,
                    lambda: factory.build()[0],
                    factory.spans,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    pid=service.process.pid,
                )
        finally:
            broker.stop()

    report = {
        "command": f"python -m bench.receiver --transport {args.transport} "
        f"--seconds {args.seconds:g} --concurrency {args.concurrency} "
        f"--traces-per-request {args.traces_per_request}",
        "spans_per_request": factory.spans,
        "seconds": round(result.seconds, 2),
        "accepted_spans": result.load.accepted_spans,
        "accepted_spans_per_s": result.spans_per_s,
        "receiver_cpu_cores_used": result.cores_used,
        "spans_per_s_per_receiver_core": result.spans_per_core_s,
        "refused": result.load.refused,
        "export_latency_p50_ms": result.latency_ms(0.5),
        "export_latency_p99_ms": result.latency_ms(0.99),
    }
    print(json.dumps(report, indent=2))
    save_report(f"receiver-{args.transport}", report)


if __name__ == "__main__":
    main()
