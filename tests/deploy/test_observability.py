"""``deploy/grafana/otelfuse-dashboard.json`` and ``deploy/otel-collector.yaml``.

The dashboard may only query series the code declares (read from its source, and cross-checked
against the live prometheus_client registry), and must cover what operators look at.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from prometheus_client import REGISTRY

from tests.deploy.metrics import ROOT, declared_metrics, declared_series, metrics_in

DASHBOARD = ROOT / "deploy" / "grafana" / "otelfuse-dashboard.json"
COLLECTOR = ROOT / "deploy" / "otel-collector.yaml"


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def exprs(board: dict[str, Any]) -> list[str]:
    found = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(query["query"])
    return found


def test_source_scan_matches_the_live_registry() -> None:
    """The AST scan behind declared_series() sees every metric the modules register."""
    for module in ("ingest.telemetry", "processors.telemetry", "processors.kafka.telemetry"):
        importlib.import_module(module)
    live = {family.name for family in REGISTRY.collect() if family.name.startswith("otelfuse_")}
    declared = {name.removesuffix("_total") for name in declared_metrics()}
    assert live, "no otelfuse metrics registered"
    assert live <= declared, sorted(live - declared)


def test_dashboard_queries_only_declared_metrics() -> None:
    board = dashboard()
    used = set().union(*(metrics_in(e) for e in exprs(board)))
    missing = used - declared_series()
    assert not missing, f"dashboard uses metrics the code does not declare: {sorted(missing)}"


def test_dashboard_covers_the_operator_views() -> None:
    used = set().union(*(metrics_in(e) for e in exprs(dashboard())))
    assert {
        "otelfuse_receiver_accepted_spans_total",
        "otelfuse_receiver_refused_spans_total",
        "otelfuse_receiver_request_duration_seconds_bucket",
        "otelfuse_receiver_kafka_produce_duration_seconds_bucket",
        "otelfuse_processor_batches_total",
        "otelfuse_processor_records_total",
        "otelfuse_processor_batch_duration_seconds_bucket",
        "otelfuse_processor_consumer_lag_records",
        "otelfuse_processor_group_lag_records",
        "otelfuse_processor_dead_lettered_records_total",
        "otelfuse_processor_tokens_total",
        "otelfuse_processor_cost_usd_total",
        "otelfuse_processor_unpriced_generations_total",
    } <= used
    text = "\n".join(exprs(dashboard()))
    assert "histogram_quantile(0.99" in text


def test_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] and board["title"]
    assert isinstance(board["schemaVersion"], int)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:  # no two panels share a grid cell
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, (panel["title"], cells.get((x, y)))
                cells[(x, y)] = panel["title"]
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["description"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")"), expr
            assert expr.count("{") == expr.count("}"), expr
            # Every series is scoped by the dashboard's variables.
            for metric in metrics_in(expr):
                assert f'{metric}{{namespace=~"$namespace", job=~"$job"' in expr, expr


def test_collector_config_forwards_traces_to_the_receiver() -> None:
    config: dict[str, Any] = yaml.safe_load(COLLECTOR.read_text())
    (name,) = [n for n in config["exporters"] if n.split("/")[0] == "otlphttp"]
    exporter = config["exporters"][name]
    endpoint = urlparse(exporter["traces_endpoint"])
    assert endpoint.port == 4318
    assert endpoint.path == "/v1/traces"
    logs = urlparse(exporter["logs_endpoint"])
    assert (logs.netloc, logs.path) == (endpoint.netloc, "/v1/logs")
    assert config["service"]["pipelines"]["logs"] == config["service"]["pipelines"]["traces"]
    assert exporter["headers"]["Authorization"] == "Basic ${env:OTELFUSE_BASIC_AUTH}"
    assert exporter["retry_on_failure"]["enabled"] is True

    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert "batch" in pipeline["processors"]
    assert pipeline["processors"][0] == "memory_limiter"
    assert pipeline["exporters"] == [name]
    # Everything the pipeline names is defined, and everything defined is used.
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) == set(config[kind]), kind
    assert set(config["service"].get("extensions", [])) == set(config.get("extensions", {}))


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian: prometheus) missing"
)
def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    """Each query, with Grafana's variables filled in, parses in Prometheus (promtool)."""
    filled = {"$__rate_interval": "2m", "$namespace": ".*", "$job": ".*"}
    rules = []
    for number, expr in enumerate(exprs(dashboard())):
        if expr.startswith("label_values("):  # Grafana's function, not PromQL
            expr = expr.removeprefix("label_values(").rsplit(",", 1)[0]
        for variable, value in filled.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]})
    )
    result = subprocess.run(
        ["promtool", "check", "rules", "rules.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
