"""The receiver beside a Rust collector: the same OTLP request bodies through ``otelfuse
receiver`` and through Rotel (https://github.com/streamfold/rotel, pip package ``rotel``), each
into Kafka on the same broker, one after the other; prints both figures and their ratio.

Input: ``--bodies`` requests of ``--traces-per-request`` realistic GenAI traces (3 spans each,
``bench/spans.py``) are built once from ``RequestFactory(..., seed=--seed)`` and sent in turn by
``--concurrency`` exporters over ``--transport`` (OTLP/HTTP protobuf or OTLP/gRPC) for
``--seconds`` after ``--warmup`` seconds, first to the receiver, then to Rotel: the same bytes
in the same order (the load generator and measurement of ``bench.receiver``).

- ``otelfuse receiver`` as ``bench.receiver`` runs it: mapped ``ObservationBatch`` messages to
  the observations topic and (archive on, the default) the raw request to the raw topic,
  ``--compression`` (default zstd, the receiver's default), ``acks=all``, each export answered
  after the broker acknowledged it.
- Rotel's Kafka exporter: the spans as OTLP protobuf to the topic ``rotel-traces``, the same
  ``--compression``, ``acks=all``, messages kept below 1,000,000 bytes as ours
  (``--traces-batch-max-size`` from the body size; its default batch of 8,192 spans makes
  messages the broker refuses). Rotel answers an export before it reaches Kafka, so after the
  load this script reads the topic until every accepted span is there
  (``rotel.delivered_spans``) and only then reads Rotel's CPU time, so the exporting is
  counted; its export latencies are not comparable to ours.

Per-core figures divide accepted spans by the CPU seconds of the receiving process (``/proc``,
all threads). One tansu broker (memory storage, 6 partitions per topic) serves both runs; the
load generator and the broker share the machine. Prints a summary line and a JSON report (also
written to bench/results/rotel-compare-<transport>-<time>.json). Figures: docs/benchmarks.md.

    python -m bench.rotel_compare --transport http --seconds 20 --concurrency 8
    python -m bench.rotel_compare --transport grpc --seconds 20 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from bench.receiver import Measurement, measure, otelfuse_receiver
from bench.report import save_report
from bench.spans import RequestFactory
from processors.kafka.config import COMPRESSIONS, DEFAULT_OBSERVATIONS_TOPIC, PublisherConfig
from tests.support.kafka import start_broker, wait_for_port
from tests.support.service import free_port

ROTEL_TOPIC = "rotel-traces"
PARTITIONS = 6
MAX_MESSAGE_BYTES = 1_000_000
"""Rotel's (and ``PublisherConfig``'s) default largest Kafka message value."""


def rotel_binary() -> Path:
    """The ``rotel-agent`` executable shipped inside the ``rotel`` wheel.

    Raises:
        SystemExit: the ``rotel`` package is not installed (it is in the ``dev`` extra).
    """
    spec = importlib.util.find_spec("rotel")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("rotel is not installed: pip install -e '.[dev]' (or pip install rotel)")
    return Path(next(iter(spec.submodule_search_locations))) / "rotel-agent"


@contextmanager
def rotel(
    log_dir: Path, bootstrap: str, spans_per_message: int, compression: str = "zstd"
) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """Rotel in the foreground (one process, its own threads) on free loopback ports, exporting
    traces to ``ROTEL_TOPIC`` on ``bootstrap`` with ``compression``; yields the process, its
    OTLP/HTTP base URL and its OTLP/gRPC ``host:port``. Stopped (SIGTERM, then SIGKILL after
    10 s) on exit.

    Settings are flags of ``rotel-agent start`` (``--help``); ``ROTEL_*`` variables of this
    environment are not passed on, so they cannot change them.
    """
    http_port, grpc_port = free_port(), free_port()
    command = [
        str(rotel_binary()),
        "start",
        "--log-format",
        "json",
        "--otlp-http-endpoint",
        f"127.0.0.1:{http_port}",
        "--otlp-grpc-endpoint",
        f"127.0.0.1:{grpc_port}",
        "--otlp-grpc-max-recv-msg-size-mib",
        "64",
        "--exporter",
        "kafka",
        "--kafka-exporter-brokers",
        bootstrap,
        "--kafka-exporter-traces-topic",
        ROTEL_TOPIC,
        "--kafka-exporter-format",
        "protobuf",
        "--kafka-exporter-compression",
        compression,
        "--kafka-exporter-acks",
        "all",
        "--kafka-exporter-max-message-bytes",
        str(MAX_MESSAGE_BYTES),
        "--traces-batch-max-size",
        str(spans_per_message),
        "--pid-file",
        str(log_dir / "rotel.pid"),
        "--log-file",
        str(log_dir / "rotel-daemon.log"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEL_")}
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "rotel.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(http_port, process, name="rotel")
        wait_for_port(grpc_port, process, name="rotel")
        yield process, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rotel_version() -> str:
    """What ``rotel-agent --version`` prints (the collector's version, not the wheel's)."""
    done = subprocess.run(
        [str(rotel_binary()), "--version"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def count_spans(bootstrap: str, topic: str, expected: int, idle_s: float = 10) -> int:
    """Spans in the OTLP protobuf (``TracesData``) messages of ``topic``, read from offset 0
    without a consumer group; stops once ``expected`` are counted or after ``idle_s`` seconds
    without a new message, and returns the count."""

    async def read() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        try:
            assigned = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            counted = 0
            last_seen = time.monotonic()
            while counted < expected and time.monotonic() - last_seen < idle_s:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    last_seen = time.monotonic()
                    for message in messages:
                        data = TracesData.FromString(message.value)
                        counted += sum(
                            len(scope.spans)
                            for resource in data.resource_spans
                            for scope in resource.scope_spans
                        )
            return counted
        finally:
            await consumer.stop()

    return asyncio.run(read())


def figures(result: Measurement) -> dict[str, object]:
    """The report's figures of one run."""
    return {
        "seconds": round(result.seconds, 2),
        "accepted_spans": result.load.accepted_spans,
        "accepted_spans_per_s": result.spans_per_s,
        "cpu_s": round(result.cpu_s, 2),
        "cpu_cores_used": result.cores_used,
        "spans_per_s_per_core": result.spans_per_core_s,
        "refused": result.load.refused,
        "export_latency_p50_ms": result.latency_ms(0.5),
        "export_latency_p99_ms": result.latency_ms(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transport", choices=("http", "grpc"), default="http")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--traces-per-request", type=int, default=50)
    parser.add_argument("--bodies", type=int, default=64, help="distinct requests, sent in turn")
    parser.add_argument("--seed", type=int, default=16, help="seed of the trace and span ids")
    parser.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default=PublisherConfig().compression,
        help="Kafka compression of both (default: the receiver's default)",
    )
    args = parser.parse_args()

    factory = RequestFactory(args.traces_per_request, seed=args.seed)
    bodies = [factory.build()[0] for _ in range(args.bodies)]
    body_bytes = sum(map(len, bodies)) // len(bodies)
    # Rotel batches spans across requests: keep its messages at 80 % of the size limit.
    spans_per_message = max(1, int(0.8 * MAX_MESSAGE_BYTES * factory.spans / body_bytes))

    with tempfile.TemporaryDirectory(prefix="otelfuse-bench-rotel-") as tmp:
        broker = start_broker(Path(tmp) / "broker")
        try:
            broker.create_topics(DEFAULT_OBSERVATIONS_TOPIC, ROTEL_TOPIC, partitions=PARTITIONS)
            compression = {"OTELFUSE_KAFKA_COMPRESSION": args.compression}
            with otelfuse_receiver(Path(tmp), broker.bootstrap, compression) as service:
                target = service.http_url if args.transport == "http" else service.grpc_target
                ours = measure(
                    args.transport,
                    target,
                    service.authorization,
                    itertools.cycle(bodies).__next__,
                    factory.spans,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    pid=service.process.pid,
                )

            delivered = 0

            def settle(accepted: int) -> None:
                nonlocal delivered
                delivered = count_spans(broker.bootstrap, ROTEL_TOPIC, accepted)

            with rotel(
                Path(tmp) / "rotel", broker.bootstrap, spans_per_message, args.compression
            ) as (
                process,
                http_url,
                grpc_target,
            ):
                theirs = measure(
                    args.transport,
                    http_url if args.transport == "http" else grpc_target,
                    "",
                    itertools.cycle(bodies).__next__,
                    factory.spans,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    pid=process.pid,
                    settle=settle,
                )
            rotel_errors = [
                line
                for line in (Path(tmp) / "rotel" / "rotel.log")
                .read_text(errors="replace")
                .splitlines()
                if "ERROR" in line
            ]
        finally:
            broker.stop()

    rotel_accepted = theirs.warmup_spans + theirs.load.accepted_spans
    ratio = (
        round(ours.spans_per_core_s / theirs.spans_per_core_s, 3)
        if ours.spans_per_core_s and theirs.spans_per_core_s
        else None
    )
    report = {
        "command": f"python -m bench.rotel_compare --transport {args.transport} "
        f"--seconds {args.seconds:g} --concurrency {args.concurrency} "
        f"--traces-per-request {args.traces_per_request} --bodies {args.bodies} "
        f"--seed {args.seed} --compression {args.compression}",
        "spans_per_request": factory.spans,
        "request_bytes": body_bytes,
        "otelfuse": figures(ours),
        "rotel": {
            **figures(theirs),
            "version": rotel_version(),
            "spans_per_kafka_message": spans_per_message,
            "accepted_spans_with_warmup": rotel_accepted,
            "delivered_spans": delivered,
            "log_errors": len(rotel_errors),
            "first_log_errors": rotel_errors[:3],
        },
        "per_core_ratio_otelfuse_to_rotel": ratio,
    }
    print(json.dumps(report, indent=2))
    print(
        f"{args.transport}: otelfuse receiver {ours.spans_per_core_s} spans/s per core, "
        f"rotel {theirs.spans_per_core_s} spans/s per core: otelfuse/rotel = {ratio}"
    )
    if delivered < rotel_accepted:
        print(
            f"WARNING: rotel answered {rotel_accepted} spans but only {delivered} reached "
            f"{ROTEL_TOPIC} (see its log); its figures count spans it did not deliver",
            file=sys.stderr,
        )
    save_report(f"rotel-compare-{args.transport}", report)


if __name__ == "__main__":
    main()
