"""The chart's PrometheusRule, checked and unit-tested with Prometheus's own ``promtool``.

``promtool check rules`` parses every expression and annotation template; ``promtool test
rules`` feeds synthetic series and asserts which alerts fire, with which labels, and that
series of another namespace are ignored. Skipped where promtool is not installed (Debian:
``apt-get install prometheus``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import FULLNAME, NAMESPACE, load_values, one, render

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian: prometheus) missing")

TEAM = {"team": "observability"}  # defaultRules.labels in ci/monitoring-values.yaml


def rule_groups() -> list[dict[str, Any]]:
    docs = render(load_values("monitoring-values.yaml"))
    groups: list[dict[str, Any]] = one(docs, "PrometheusRule", FULLNAME)["spec"]["groups"]
    return groups


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}))
    result = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def series(
    name: str, values: str, job: str, namespace: str = NAMESPACE, **labels: str
) -> dict[str, str]:
    all_labels = {"namespace": namespace, "job": f"{FULLNAME}-{job}", **labels}
    selector = ", ".join(f'{k}="{v}"' for k, v in sorted(all_labels.items()))
    return {"series": f"{name}{{{selector}}}", "values": values}


def expect(alert: str, *labelsets: dict[str, str]) -> dict[str, Any]:
    return {
        "eval_time": "30m",
        "alertname": alert,
        "exp_alerts": [{"exp_labels": labels} for labels in labelsets],
    }


def test_alerts_fire_on_their_failure_modes(tmp_path: Path) -> None:
    # Annotations are templated text checked by `check rules`; leave them out of the exact
    # comparison `test rules` makes.
    groups = rule_groups()
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))

    ns = {"namespace": NAMESPACE}
    input_series = [
        # Kafka refuses: 1 span/s refused for "storage" on one receiver.
        series(
            "otelfuse_receiver_refused_spans_total",
            "0+60x40",
            "receiver",
            reason="storage",
            transport="grpc",
        ),
        # Client data: 200 invalid spans/min against 600 accepted: 25 % of all spans.
        series(
            "otelfuse_receiver_refused_spans_total",
            "0+200x40",
            "receiver",
            reason="invalid_span",
            transport="http",
        ),
        series("otelfuse_receiver_accepted_spans_total", "0+600x40", "receiver", transport="http"),
        # Requests: as many failures as successes.
        series(
            "otelfuse_receiver_request_duration_seconds_count",
            "0+10x40",
            "receiver",
            transport="http",
            outcome="failure",
        ),
        series(
            "otelfuse_receiver_request_duration_seconds_count",
            "0+10x40",
            "receiver",
            transport="http",
            outcome="success",
        ),
        # Group lag above the 100k threshold (the same value on every processor: max, not sum).
        series("otelfuse_processor_group_lag_records", "120000x40", "processor", pod="p-1"),
        series("otelfuse_processor_group_lag_records", "120000x40", "processor", pod="p-2"),
        # One poison record dead-lettered at minute 20.
        series(
            "otelfuse_processor_dead_lettered_records_total",
            "0x20 1x20",
            "processor",
            reason="decode",
        ),
        # Every batch fails.
        series("otelfuse_processor_batches_total", "0+6x40", "processor", outcome="failure"),
        # The archiver cannot write to S3.
        series("otelfuse_archive_write_errors_total", "0+3x40", "archiver"),
        # A query pod is down.
        series("up", "0x40", "query", pod="q-1"),
        series("up", "1x40", "receiver", pod="r-1"),
        # The same failures in another namespace never fire this release's alerts.
        series(
            "otelfuse_processor_group_lag_records",
            "900000x40",
            "processor",
            namespace="elsewhere",
            pod="x-1",
        ),
        series(
            "otelfuse_processor_batches_total",
            "0+6x40",
            "processor",
            namespace="elsewhere",
            outcome="failure",
        ),
        series("up", "0x40", "query", namespace="elsewhere", pod="x-2"),
    ]
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [
                    expect(
                        "OtelfuseReceiverRefusingSpans",
                        {**ns, "reason": "storage", "severity": "critical", **TEAM},
                    ),
                    expect(
                        "OtelfuseReceiverRejectingClientData",
                        {**ns, "severity": "warning", **TEAM},
                    ),
                    expect(
                        "OtelfuseReceiverFailingRequests", {**ns, "severity": "warning", **TEAM}
                    ),
                    expect("OtelfuseConsumerLag", {**ns, "severity": "warning", **TEAM}),
                    expect(
                        "OtelfuseDeadLetters",
                        {**ns, "reason": "decode", "severity": "warning", **TEAM},
                    ),
                    expect("OtelfuseInsertFailures", {**ns, "severity": "critical", **TEAM}),
                    expect("OtelfuseArchiveWriteFailures", {**ns, "severity": "warning", **TEAM}),
                    expect(
                        "OtelfuseTargetDown",
                        {
                            **ns,
                            "job": f"{FULLNAME}-query",
                            "pod": "q-1",
                            "severity": "warning",
                            **TEAM,
                        },
                    ),
                ],
            },
            {
                # Healthy: nothing refused, lag low, batches succeed: no alert fires.
                "interval": "1m",
                "input_series": [
                    series(
                        "otelfuse_receiver_accepted_spans_total",
                        "0+600x40",
                        "receiver",
                        transport="grpc",
                    ),
                    series(
                        "otelfuse_receiver_refused_spans_total",
                        "0x40",
                        "receiver",
                        reason="storage",
                        transport="grpc",
                    ),
                    series(
                        "otelfuse_processor_group_lag_records", "500x40", "processor", pod="p-1"
                    ),
                    series(
                        "otelfuse_processor_batches_total", "0+6x40", "processor", outcome="success"
                    ),
                    series(
                        "otelfuse_processor_batches_total", "0x40", "processor", outcome="failure"
                    ),
                    series("up", "1x40", "query", pod="q-1"),
                    series("otelfuse_archive_write_errors_total", "0x40", "archiver"),
                ],
                "alert_rule_test": [
                    expect(alert)
                    for alert in (
                        "OtelfuseReceiverRefusingSpans",
                        "OtelfuseConsumerLag",
                        "OtelfuseInsertFailures",
                        "OtelfuseTargetDown",
                        "OtelfuseDeadLetters",
                        "OtelfuseArchiveWriteFailures",
                    )
                ],
            },
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
