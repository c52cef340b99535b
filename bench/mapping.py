"""The receiver's CPU path for one OTLP/HTTP protobuf export, without a network or a broker.

    python -m bench.mapping [--traces-per-request 50] [--requests 200] [--runs 5] [--profile]

Per request: decode the body (``ingest.otlp.protobuf_codec.decode_protobuf_request``), map every
span (``ingest.mapping.map_export_request``) and pack the records into Kafka messages
(``ingest.kafka.pack_messages``, 1 MiB limit) — what ``otelfuse receiver`` does between reading a
body and handing messages to the producer. Bodies come from ``bench.spans.RequestFactory``
(3 spans per trace, two chat generations with ~1 KB of messages each), built before the clock
starts. Prints, per step and in total, CPU microseconds per span (``time.process_time``, so
another process on the machine inflates it less than wall time would) for each run, then
min / median / max over the runs. ``--profile`` runs once more under cProfile and prints the
25 functions with the most own time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time

from bench.spans import RequestFactory
from ingest.kafka import pack_messages
from ingest.mapping import IngestContext, map_export_request
from ingest.otlp.protobuf_codec import decode_protobuf_request

MAX_MESSAGE_BYTES = 1024 * 1024
STEPS = ("decode", "map", "pack")


def run_once(bodies: list[bytes]) -> dict[str, float]:
    """CPU seconds spent in each step over ``bodies``."""
    ctx = IngestContext(project_id="bench")
    spent = dict.fromkeys(STEPS, 0.0)
    for body in bodies:
        t0 = time.process_time()
        decoded = decode_protobuf_request(body)
        t1 = time.process_time()
        result = map_export_request(decoded.request, ctx, rejected=decoded.rejected)
        t2 = time.process_time()
        pack_messages(result.records, MAX_MESSAGE_BYTES)
        t3 = time.process_time()
        spent["decode"] += t1 - t0
        spent["map"] += t2 - t1
        spent["pack"] += t3 - t2
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces-per-request", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    factory = RequestFactory(args.traces_per_request)
    bodies = [factory.build()[0] for _ in range(args.requests)]
    spans = factory.spans * args.requests
    run_once(bodies[:10])  # warm caches and imports
    totals: list[float] = []
    for run in range(1, args.runs + 1):
        spent = run_once(bodies)
        per_span = {step: spent[step] / spans * 1e6 for step in STEPS}
        total = sum(per_span.values())
        totals.append(total)
        steps = ", ".join(f"{step} {per_span[step]:.1f}" for step in STEPS)
        print(f"run {run}: {total:.1f} µs/span ({steps}); {1e6 / total:,.0f} spans/s per core")
    print(
        f"µs/span min {min(totals):.1f} / median {statistics.median(totals):.1f} / "
        f"max {max(totals):.1f} ({spans} spans per run, {factory.spans} per request)"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_once, bodies)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
