"""Where the receiver role's CPU goes per span, on a fixed workload (not a throughput benchmark).

The receiver's pieces are composed in this process as ``ingest.app.receiver.Receiver`` composes
them (claim check → ``KafkaPublisher``, ``RawPublisher`` archive, ``TraceExport``, the OTLP/HTTP
routes on the role's uvicorn server, or the OTLP/gRPC server), except that the keys come from a
``StaticKeyStore`` instead of PostgreSQL, and the memory limiter is configured as the role
configures it (``OTELFUSE_MEMORY_LIMIT_*`` defaults). ``--enrich thread`` puts the all-in-one
worker's ``ingest.sinks.EnrichingSink`` (enrichment ahead, in its own thread) in front of the
publisher, as ``ingest.app.worker`` composes it in front of its owner channel, with the
PostgreSQL-free enricher (``processors.enrich.default_enricher``: catalog prices, tiktoken), so
the worker's enrichment and its thread hop are counted too. A tansu broker (memory storage) and
a client process run beside it, so their CPU is not counted. The client sends ``--warmup``
requests, then ``--requests`` requests of ``--traces-per-request`` GenAI traces (3 spans each,
``bench/spans.py``, fixed seed) twice: once plain, to read this process's CPU time
(``time.process_time``, all threads), and once under ``cProfile`` (the event-loop thread) for
the breakdown.

Prints, per span: the plain CPU time; the profile's own time (``tottime``) summed by area
(HTTP server, protobuf decode, mapping, Kafka packing, aiokafka, archive, ...); the cumulative
time of the receiver's steps; and the call counts per request of the Kafka sends (these are
deterministic; the times vary with the machine, and cProfile inflates Python-heavy code more
than C-heavy code, so compare areas within one run and runs on one machine).

    python -m bench.receiver_profile --transport http --requests 40
    python -m bench.receiver_profile --transport grpc --requests 40 --save /tmp/rx.pstats
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import os
import pstats
import signal
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import grpc
import httpx

from bench.spans import RequestFactory
from ingest.app.media import offloading, open_blobs
from ingest.app.servers import start_grpc, start_http
from ingest.app.service import freeze_started
from ingest.app.settings import Settings
from ingest.archive_hook import Archiving
from ingest.kafka import KafkaPublisher
from ingest.memory_limiter import MEMORY_LIMITER
from ingest.otlp.export import TraceExport
from ingest.otlp.http_receiver import OTLPHTTPReceiver
from ingest.raw_publisher import RawPublisher
from ingest.sinks import EnrichingSink, RecordSink
from processors.enrich import default_enricher
from processors.kafka.config import DEFAULT_OBSERVATIONS_TOPIC
from storage.auth import Project, StaticKeyStore, hash_secret
from tests.support.kafka import start_broker
from tests.support.service import free_port

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PUBLIC_KEY, SECRET_KEY = "pk-lf-profile", "sk-lf-profile-secret"
AUTHORIZATION = (
    "Basic " + __import__("base64").b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
)
RAW_TOPIC = "otelfuse.raw"

AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mapping (ingest/mapping)", ("/ingest/mapping/",)),
    ("OTLP decode (ingest/otlp codecs)", ("protobuf_codec", "json_codec", "decoded.py")),
    ("Kafka packing (ingest/kafka.py, storage/records.py)", ("/ingest/kafka.py", "records.py")),
    ("aiokafka producer", ("/aiokafka/",)),
    ("claim check (offload)", ("/ingest/offload.py", "claim_check.py")),
    ("archive (hook, raw publisher)", ("archive_hook.py", "raw_publisher.py", "/archive/")),
    (
        "HTTP server (uvicorn, h11, starlette, body)",
        ("/uvicorn/", "/h11/", "/starlette/", "/http/"),
    ),
    ("gRPC server (grpc.aio)", ("/grpc/",)),
    ("OTLP receivers (ingest/otlp transports, export)", ("/ingest/otlp/",)),
    ("metrics (prometheus_client, telemetry)", ("prometheus_client", "telemetry.py")),
    ("auth, memory limiter", ("auth.py", "memory_limiter.py")),
    ("asyncio event loop", ("/asyncio/", "uvloop")),
)
"""Areas of the breakdown: the first whose fragment is in a function's file (or, for built-in
functions, its name) gets its own time; the rest is "other"."""

BUILTIN_AREAS: tuple[tuple[str, str], ...] = (
    ("SerializeToString", "protobuf serialize (C)"),
    ("FromString", "protobuf parse (C)"),
    ("ParseFromString", "protobuf parse (C)"),
    ("MergeFromString", "protobuf parse (C)"),
    ("lz4", "lz4 compress (C)"),
    ("compress", "compression (C)"),
    ("select", "socket I/O, poll (C)"),
    ("send", "socket I/O, poll (C)"),
    ("recv", "socket I/O, poll (C)"),
)
"""Built-in (C) functions by name: the first fragment found names their area."""

STEPS = (
    ("ingest/otlp/http_receiver.py", "handle"),
    ("ingest/otlp/grpc_receiver.py", "serve"),
    ("ingest/otlp/http_receiver.py", "_decode"),
    ("ingest/otlp/grpc_receiver.py", "_parse"),
    ("ingest/otlp/export.py", "export"),
    ("ingest/mapping/request.py", "map_export_request"),
    ("ingest/offload.py", "submit"),
    ("storage/blobs/claim_check.py", "offload_records"),
    ("ingest/kafka.py", "submit"),
    ("ingest/kafka.py", "_pack"),
    ("ingest/kafka.py", "_publish"),
    ("ingest/kafka.py", "_send_all"),
    ("ingest/otlp/export.py", "archived"),
    ("ingest/raw_publisher.py", "submit"),
    ("aiokafka/producer/producer.py", "send"),
    ("aiokafka/producer/sender.py", "_send_produce_req"),
)
"""(file suffix, function) of the steps whose cumulative time and calls are printed."""


async def send(transport: str, target: str, bodies: list[bytes], concurrency: int) -> int:
    """Send every body once over ``transport`` with ``concurrency`` exporters; returns how many
    were accepted (200 / OK)."""
    queue = list(reversed(bodies))
    accepted = 0

    if transport == "http":
        async with httpx.AsyncClient(base_url=target, timeout=120) as client:

            async def http_worker() -> None:
                nonlocal accepted
                while queue:
                    response = await client.post(
                        "/v1/traces",
                        content=queue.pop(),
                        headers={
                            "Authorization": AUTHORIZATION,
                            "Content-Type": "application/x-protobuf",
                        },
                    )
                    accepted += response.status_code == 200

            await asyncio.gather(*(http_worker() for _ in range(concurrency)))
        return accepted

    async with grpc.aio.insecure_channel(
        target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        export = channel.unary_unary(
            EXPORT, request_serializer=lambda b: b, response_deserializer=lambda b: b
        )

        async def grpc_worker() -> None:
            nonlocal accepted
            while queue:
                await export(queue.pop(), metadata=(("authorization", AUTHORIZATION),), timeout=120)
                accepted += 1

        await asyncio.gather(*(grpc_worker() for _ in range(concurrency)))
    return accepted


def client_main(args: argparse.Namespace) -> None:
    """The client process: build the bodies (same seed every run) and send them."""
    factory = RequestFactory(args.traces_per_request, seed=args.seed)
    bodies = [factory.build()[0] for _ in range(args.requests)]
    accepted = asyncio.run(send(args.transport, args.target, bodies, args.concurrency))
    if accepted != len(bodies):
        raise SystemExit(f"only {accepted} of {len(bodies)} requests were accepted")


async def run_client(args: argparse.Namespace, target: str, requests: int) -> None:
    """Run the client process for ``requests`` requests and wait for it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.receiver_profile",
        "--client",
        target,
        "--transport",
        args.transport,
        "--requests",
        str(requests),
        "--concurrency",
        str(args.concurrency),
        "--traces-per-request",
        str(args.traces_per_request),
        "--seed",
        str(args.seed),
    )
    if await process.wait() != 0:
        raise SystemExit("the client failed")


async def profile(args: argparse.Namespace, bootstrap: str, data_dir: Path) -> cProfile.Profile:
    """Compose the receiver, load it (module docstring) and return the profile."""
    http_port, grpc_port = free_port(), free_port()
    settings = Settings.from_env(
        {
            "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "OTELFUSE_DATA_DIR": str(data_dir),
            "OTELFUSE_HTTP_ADDRESS": f"127.0.0.1:{http_port}",
            "OTELFUSE_GRPC_ADDRESS": f"127.0.0.1:{grpc_port}",
            "OTELFUSE_ARCHIVE_ENABLED": "true" if args.archive else "false",
        }
    )
    MEMORY_LIMITER.configure(settings.memory)
    keys = StaticKeyStore([(PUBLIC_KEY, hash_secret(SECRET_KEY), Project("proj-profile"))])
    spans = args.requests * args.traces_per_request * 3
    async with contextlib.AsyncExitStack() as stack:
        publisher = KafkaPublisher(settings.publisher)
        await publisher.start()
        stack.push_async_callback(publisher.stop)
        blobs = await open_blobs(settings, stack, create=True)
        archive = None
        if settings.archive.enabled:
            raw = RawPublisher(publisher, settings.archive.raw_topic, blobs)
            archive = Archiving(raw, settings.archive)
        sink: RecordSink = publisher
        if args.enrich == "thread":
            enricher = await asyncio.to_thread(default_enricher, data_dir)
            enriching = EnrichingSink(publisher, enricher)
            stack.push_async_callback(enriching.close)
            sink = enriching
        export = TraceExport(offloading(settings, sink, blobs), keys, publisher, archive)
        if args.transport == "http":
            limit = settings.server.max_request_bytes
            await start_http(settings, stack, OTLPHTTPReceiver(export, limit).routes(), _healthy)
            target = f"http://127.0.0.1:{http_port}"
        else:
            await start_grpc(settings, stack, export)
            target = f"127.0.0.1:{grpc_port}"

        await run_client(args, target, args.warmup)
        freeze_started()  # as the role's process does once it started
        sampler = await start_sampler(args.samples) if args.samples else None
        collector = GarbageCollections()
        if args.callgrind:
            await callgrind_instrumentation("on")
        started = time.process_time()
        with collector:
            await run_client(args, target, args.requests)
        plain_s = time.process_time() - started
        if args.callgrind:
            await callgrind_instrumentation("off")
        if sampler is not None:
            sampler.send_signal(signal.SIGINT)
            await sampler.wait()
        profiler = cProfile.Profile()
        if args.cprofile:
            profiler.enable()
            await run_client(args, target, args.requests)
            profiler.disable()
    if args.samples:
        sampled(args.samples, plain_s * 1e6 / spans)
    print(
        "\ngarbage collections per request (generation 0/1/2): "
        + "/".join(f"{n / args.requests:.2f}" for n in collector.counts)
        + f"; {collector.seconds * 1e6 / spans:.2f} us/span in the collector"
    )
    print(
        f"{args.transport}: {args.requests} requests x {args.traces_per_request * 3} spans; "
        f"receiver CPU without profiler: {plain_s * 1e6 / spans:.1f} us/span "
        f"({spans / plain_s:,.0f} spans/s per core; this process, all threads)"
    )
    return profiler


class GarbageCollections:
    """Counts the cyclic garbage collector's runs by generation, and their time (``gc.callbacks``),
    while entered."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.seconds = 0.0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.counts[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> None:
        gc.callbacks.append(self._callback)

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


async def callgrind_instrumentation(state: str) -> None:
    """Turn callgrind's instrumentation of this process ``on`` or ``off`` (``callgrind_control
    --instr``; the process runs under ``valgrind --tool=callgrind --instr-atstart=no``), so its
    instruction count holds the plain pass only."""
    process = await asyncio.create_subprocess_exec(
        "callgrind_control",
        f"--instr={state}",
        str(os.getpid()),
        stdout=asyncio.subprocess.DEVNULL,
    )
    if await process.wait() != 0:
        raise SystemExit("callgrind_control failed: run under valgrind --tool=callgrind")


async def start_sampler(output: str) -> asyncio.subprocess.Process:
    """py-spy sampling this process (1000 Hz, without pausing it) into ``output``, collapsed
    stacks (``--format raw``); stop it with SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    process = await asyncio.create_subprocess_exec(
        str(spy) if spy.exists() else "py-spy",
        "record",
        "--pid",
        str(os.getpid()),
        "--rate",
        "1000",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        output,
        stderr=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1)  # py-spy attaches
    return process


Stack = tuple[list[tuple[str, str]], int]
"""One collapsed py-spy stack: its frames (function, file), outermost first, and its samples."""


def read_stacks(path: str) -> list[Stack]:
    """The stacks of a py-spy ``--format raw`` file (``func (file:line);... count`` lines)."""
    stacks: list[Stack] = []
    for line in Path(path).read_text().splitlines():
        frames_text, _, count = line.rpartition(" ")
        frames: list[tuple[str, str]] = []
        for frame in frames_text.split(";"):
            name, _, where = frame.partition(" (")
            file = where.rstrip(")").rsplit(":", 1)[0]
            frames.append((name.strip(), "/" + file if file else "~"))
        stacks.append((frames, int(count)))
    return stacks


def _is_step(name: str, file: str, suffix: str, function: str) -> bool:
    """py-spy names methods ``Class.method``; cProfile names them ``method``."""
    return (name == function or name.endswith("." + function)) and file.endswith(suffix)


def sampled(path: str, cpu_us_per_span: float) -> None:
    """Print the py-spy samples of ``path`` by area of their innermost Python frame (C calls
    count for the Python function that made them) and by receiver step (inclusive), scaled to
    the measured CPU per span."""
    stacks = read_stacks(path)
    total = sum(samples for _, samples in stacks) or 1
    by_area: dict[str, int] = {}
    for frames, samples in stacks:
        name, file = frames[-1]
        area = _area(file, name)
        by_area[area] = by_area.get(area, 0) + samples
    print(f"\npy-spy: {total} samples, scaled to {cpu_us_per_span:.1f} us/span (innermost frame)")
    for area, samples in sorted(by_area.items(), key=lambda item: -item[1]):
        share = samples / total
        print(f"  {share * cpu_us_per_span:8.2f} us/span  {100 * share:5.1f} %  {area}")
    print("\nsteps (py-spy, inclusive)")
    for suffix, function in STEPS:
        samples = sum(
            n
            for frames, n in stacks
            if any(_is_step(name, file, suffix, function) for name, file in frames)
        )
        share = samples / total
        where = f"{suffix}:{function}"
        print(f"  {share * cpu_us_per_span:8.2f} us/span  {100 * share:5.1f} %  {where}")


async def _healthy() -> str | None:
    return None


def _area(file: str, name: str) -> str:
    if file == "~":
        for fragment, area in BUILTIN_AREAS:
            if fragment in name:
                return area
        return "other built-ins (C)"
    for area, fragments in AREAS:
        if any(fragment in file for fragment in fragments):
            return area
    return "other Python"


def report(profiler: cProfile.Profile, args: argparse.Namespace) -> None:
    """Print the breakdown of ``profiler`` per span (module docstring)."""
    spans = args.requests * args.traces_per_request * 3
    stats = pstats.Stats(profiler, stream=io.StringIO())
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in entries.values())
    by_area: dict[str, float] = {}
    for (file, _, name), (_, _, tt, _, _) in entries.items():
        area = _area(file, name)
        by_area[area] = by_area.get(area, 0.0) + tt
    print(f"\nprofiled event-loop thread: {total * 1e6 / spans:.1f} us/span (own time by area)")
    for area, seconds in sorted(by_area.items(), key=lambda item: -item[1]):
        print(f"  {seconds * 1e6 / spans:8.2f} us/span  {100 * seconds / total:5.1f} %  {area}")
    print("\nsteps (cumulative, calls per request)")
    for suffix, function in STEPS:
        for (file, _, name), (_, calls, _, ct, _) in entries.items():
            if _is_step(name, file, suffix, function):
                print(
                    f"  {ct * 1e6 / spans:8.2f} us/span  {calls / args.requests:8.1f} calls/request"
                    f"  {suffix}:{function}"
                )
    print(f"\ntop {args.top} functions by own time")
    for (file, line, name), (_, calls, tt, _, _) in _top(entries.items(), args.top):
        where = name if file == "~" else f"{_short(file)}:{line}({name})"
        print(f"  {tt * 1e6 / spans:8.2f} us/span  {calls / args.requests:9.1f} calls/req  {where}")
    if args.save:
        stats.dump_stats(args.save)
        print(f"\nfull profile: {args.save} (python -m pstats {args.save})")


def _top(
    items: Iterable[tuple[tuple[str, int, str], tuple[int, int, float, float, object]]], n: int
) -> list[tuple[tuple[str, int, str], tuple[int, int, float, float, object]]]:
    return sorted(items, key=lambda item: -item[1][2])[:n]


_REPOSITORY = str(Path(__file__).resolve().parents[1]) + "/"


def _short(file: str) -> str:
    if file.startswith(_REPOSITORY):
        return file[len(_REPOSITORY) :]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transport", choices=("http", "grpc"), default="http")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--traces-per-request", type=int, default=50)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--no-archive", dest="archive", action="store_false")
    parser.add_argument(
        "--enrich",
        choices=("off", "thread"),
        default="off",
        help="thread: enrich ahead as an all-in-one worker does (module docstring)",
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--no-cprofile",
        dest="cprofile",
        action="store_false",
        help="skip the cProfile pass (e.g. under valgrind --tool=callgrind)",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count instructions of the plain pass only: run under valgrind --tool=callgrind "
        "--instr-atstart=no (instructions per span: the output's total / spans)",
    )
    parser.add_argument("--save", help="write the pstats file here")
    parser.add_argument(
        "--samples", help="also sample the plain pass with py-spy into this file (raw stacks)"
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        args.target = args.client
        client_main(args)
        return
    with tempfile.TemporaryDirectory(prefix="otelfuse-rx-profile-") as tmp:
        broker = start_broker(Path(tmp) / "broker")
        try:
            broker.create_topics(DEFAULT_OBSERVATIONS_TOPIC, RAW_TOPIC, partitions=6)
            # the receiver role's event loop (uvloop when installed)
            profiler = asyncio.run(profile(args, broker.bootstrap, Path(tmp) / "data"))
        finally:
            broker.stop()
    if args.cprofile:
        report(profiler, args)


if __name__ == "__main__":
    main()
