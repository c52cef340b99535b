"""A 30-minute steady load (#15 "Soak"): RSS, threads and file descriptors stay flat after the
warm-up and no span is lost or doubled. Left out of ``make test`` (marker ``soak``); run with
``make test-soak`` (``OTELFUSE_SOAK_SECONDS`` shortens it). Figures: docs/benchmarks.md."""

from __future__ import annotations

import os

import pytest

from bench.soak import parser, run

pytestmark = [pytest.mark.soak, pytest.mark.service]


def test_resources_stay_flat_and_nothing_is_lost_under_a_steady_load() -> None:
    seconds = float(os.environ.get("OTELFUSE_SOAK_SECONDS", "1800"))
    args = parser().parse_args(
        ["--seconds", str(seconds), "--warmup", str(seconds / 10), "--sample-every", "10"]
    )
    report = run(args)
    assert report.failed_requests == 0
    assert report.accepted_spans > 0
    assert report.stored_spans == report.accepted_spans  # none lost, none doubled
    flat = report.flat()
    warm_rss, late_rss = flat["rss_mib"]
    assert late_rss <= warm_rss * 1.15 + 50, flat
    warm_threads, late_threads = flat["threads"]
    assert late_threads <= warm_threads + 8, flat
    warm_fds, late_fds = flat["fds"]
    assert late_fds <= warm_fds + 16, flat
