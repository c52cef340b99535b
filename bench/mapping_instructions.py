"""Deterministic cost of span mapping: CPU instructions per span, counted by callgrind.

    python -m bench.mapping_instructions [--requests 4] [--traces-per-request 50]

Wall or CPU time on a shared machine drifts by ±10 %; an instruction count hardly does (±1 %
between runs; ``PYTHONHASHSEED=0``). The script runs itself twice under
``valgrind --tool=callgrind``, both times building and decoding the same 1 + ``--requests``
bodies and mapping the first (warm-up), and only the second time mapping the other
``--requests``; it prints the difference per span, so interpreter start-up, imports and
building/decoding the bodies cancel out. Bodies come from ``bench.spans.RequestFactory`` with a
fixed seed (the same spans every run). Needs ``valgrind``; takes about a minute. Prints whether
``ingest.mapping`` runs compiled (mypyc) or as pure Python (``ingest.mapping.NATIVE``;
``OTELFUSE_MAPPING_PURE=1`` forces pure Python, docs/operations.md "Compiled span mapping").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from bench.spans import RequestFactory
from ingest.mapping import NATIVE, IngestContext, map_export_request
from ingest.otlp.protobuf_codec import decode_protobuf_request

_TOTALS = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def _workload(requests: int, traces: int, mapped: bool) -> None:
    """Build and decode 1 + ``requests`` bodies, map the first (warm-up), then, when ``mapped``,
    map the other ``requests``."""
    factory = RequestFactory(traces, seed=7)
    decoded = [decode_protobuf_request(factory.build()[0]) for _ in range(1 + requests)]
    ctx = IngestContext(project_id="bench")
    now_us = 1_763_800_000_000_000
    map_export_request(decoded[0].request, ctx, now_us=now_us)
    if mapped:
        for item in decoded[1:]:
            map_export_request(item.request, ctx, now_us=now_us, rejected=item.rejected)


def _instructions(requests: int, traces: int, mapped: bool) -> int:
    """Instructions callgrind counts for one ``_workload(requests, traces, mapped)`` process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.mapping_instructions",
                "--workload",
                "map" if mapped else "skip",
                "--requests",
                str(requests),
                "--traces-per-request",
                str(traces),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        with open(out, encoding="utf-8") as handle:
            match = _TOTALS.search(handle.read())
    if match is None:
        raise RuntimeError("no summary line in the callgrind output")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--traces-per-request", type=int, default=50)
    parser.add_argument("--workload", choices=("map", "skip"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload is not None:
        _workload(args.requests, args.traces_per_request, args.workload == "map")
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    print(f"ingest.mapping: {NATIVE.reason}")
    spans = args.requests * args.traces_per_request * 3
    base = _instructions(args.requests, args.traces_per_request, mapped=False)
    full = _instructions(args.requests, args.traces_per_request, mapped=True)
    print(f"{(full - base) / spans:,.0f} instructions/span ({spans} spans mapped)")


if __name__ == "__main__":
    main()
