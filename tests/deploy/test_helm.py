"""The Helm chart ``helm/otelfuse``: rendered offline with Helm v4 (helm-python-sdk), every
manifest validated against the Kubernetes 1.30 JSON schemas (kubernetes-validate, strict), key
facts asserted, the values schema and render-time checks shown to refuse bad values.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from ingest.app.metadata import require_postgres_url
from ingest.app.settings import Settings
from tests.deploy.chart import (
    CHART,
    CI_VALUES,
    COMPONENTS,
    CRD_GROUP,
    FULLNAME,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    Manifest,
    container,
    find,
    load_values,
    merge,
    notes,
    one,
    pod_specs,
    render,
)
from tests.deploy.metrics import ROOT, declared_series, metrics_in


@pytest.fixture(scope="module")
def defaults() -> list[Manifest]:
    """Chart defaults plus only the required values."""
    return render(load_values("default-values.yaml"))


@pytest.fixture(scope="module")
def production() -> list[Manifest]:
    return render(load_values("production-values.yaml"))


# ---- every scenario: valid Kubernetes, lint-clean ----------------------------------------------


def test_ci_scenarios_exist() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "default-values.yaml",
        "existing-secret-values.yaml",
        "monitoring-values.yaml",
        "production-values.yaml",
    } <= names


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.stem)
def test_every_manifest_is_valid_kubernetes(values_file: Path) -> None:
    docs = render(yaml.safe_load(values_file.read_text()))
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "Job", "PodDisruptionBudget"} <= kinds
    for doc in docs:
        name = doc["metadata"]["name"]
        assert len(name) <= 63, name
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
        if doc["apiVersion"].startswith(CRD_GROUP):
            check_monitoring_structure(doc)
            continue
        # Raises ValidationError (with the path and the reason) on any schema violation.
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def check_monitoring_structure(doc: Manifest) -> None:
    """CRD objects are not in the Kubernetes schemas: check their shape by hand."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] in ("ServiceMonitor", "PrometheusRule")
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    assert doc["metadata"]["namespace"] == NAMESPACE
    spec = doc["spec"]
    if doc["kind"] == "ServiceMonitor":
        assert spec["selector"]["matchLabels"]
        assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        for endpoint in spec["endpoints"]:
            assert endpoint["port"] == "http"
            assert endpoint["path"] == "/metrics"
    else:
        assert spec["groups"]
        for group in spec["groups"]:
            assert group["name"]
            for rule in group["rules"]:
                assert set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations"}
                assert rule["expr"].strip()


def test_validation_catches_a_broken_manifest(defaults: list[Manifest]) -> None:
    """The validator used above does refuse what Kubernetes would refuse."""
    deployment = copy.deepcopy(one(defaults, "Deployment", f"{FULLNAME}-query"))
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)
    deployment = copy.deepcopy(one(defaults, "Deployment", f"{FULLNAME}-query"))
    container(deployment)["ports"][0]["containerPrt"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("values_file", [None, *CI_VALUES], ids=lambda p: p.stem if p else "chart")
def test_lint_strict_has_no_errors(values_file: Path | None) -> None:
    values = yaml.safe_load(values_file.read_text()) if values_file else None
    report = helm.lint(CHART, values, strict=True)
    assert report["errors"] == []
    # Only INFO messages (severity 1, e.g. "icon is recommended") are acceptable.
    assert [m for m in report["messages"] if m["severity"] > 1] == []


# ---- workloads -----------------------------------------------------------------------------------


def test_each_role_runs_with_its_command(defaults: list[Manifest]) -> None:
    for component in COMPONENTS:
        deployment = one(defaults, "Deployment", f"{FULLNAME}-{component}")
        assert container(deployment)["args"] == [component]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == component
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # Selector labels never carry the version, so upgrades keep selecting the same pods.
        assert "app.kubernetes.io/version" not in deployment["spec"]["selector"]["matchLabels"]


def test_migrate_job_is_a_pre_install_and_pre_upgrade_hook(defaults: list[Manifest]) -> None:
    job = one(defaults, "Job", f"{FULLNAME}-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert container(job)["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # Hooks run before the release's ConfigMap/Secret/ServiceAccount exist: the Job must not
    # depend on them. Its URL comes from a hook Secret created just before it.
    spec = job["spec"]["template"]["spec"]
    assert "serviceAccountName" not in spec
    assert "envFrom" not in container(job)
    env = {e["name"]: e for e in container(job)["env"]}
    ref = env["OTELFUSE_CLICKHOUSE_URL"]["valueFrom"]["secretKeyRef"]
    hook_secret = one(defaults, "Secret", ref["name"])
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )
    assert ref["key"] in hook_secret["stringData"]
    assert env["OTELFUSE_CLICKHOUSE_DATABASE"]["value"] == "otelfuse"
    # It migrates PostgreSQL and creates the initial project there (the roles only read it).
    values = load_values("default-values.yaml")
    expected = {
        "OTELFUSE_POSTGRES_URL": values["postgresql"]["url"],
        "OTELFUSE_INIT_PROJECT_ID": values["initProject"]["id"],
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": values["initProject"]["publicKey"],
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": values["initProject"]["secretKey"],
    }
    for name, value in expected.items():
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": ref["name"], "key": name}
        assert hook_secret["stringData"][name] == value


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.stem)
def test_pods_are_locked_down(values_file: Path) -> None:
    values = yaml.safe_load(values_file.read_text())
    docs = render(values)
    specs = list(pod_specs(docs))
    minio = values.get("minio", {}).get("enabled", False)
    archiver = values.get("archive", {}).get("enabled", True)
    # receiver, processor, query, migrate (+ archiver, + MinIO)
    assert len(specs) == 4 + archiver + minio
    for name, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        (c,) = spec["containers"]
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"] == {"drop": ["ALL"]}, name
        assert sc["runAsNonRoot"] is True, name
        assert sc["runAsUser"] == 10001, name
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        # The only writable paths: /tmp and the data dir, both emptyDir.
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        data_dir = "/data" if name.endswith("-minio") else "/var/lib/otelfuse"
        assert set(mounts) == {"/tmp", data_dir}, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for volume in mounts.values():
            assert "emptyDir" in volumes[volume], name
        assert spec["automountServiceAccountToken"] is False, name


def test_probes_hit_the_health_endpoint(defaults: list[Manifest]) -> None:
    for component in COMPONENTS:
        c = container(one(defaults, "Deployment", f"{FULLNAME}-{component}"))
        port_names = {p["name"] for p in c["ports"]}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            http_get = c[probe]["httpGet"]
            assert http_get["path"] == "/api/public/health", (component, probe)
            assert http_get["port"] == "http"
            assert http_get["port"] in port_names
        # Readiness reacts faster than liveness: a downstream outage unreadies first.
        ready, live = c["readinessProbe"], c["livenessProbe"]
        assert (
            ready["periodSeconds"] * ready["failureThreshold"]
            < live["periodSeconds"] * live["failureThreshold"]
        )


def test_ports_and_services(defaults: list[Manifest]) -> None:
    receiver = container(one(defaults, "Deployment", f"{FULLNAME}-receiver"))
    assert {(p["name"], p["containerPort"]) for p in receiver["ports"]} == {
        ("otlp-grpc", 4317),
        ("http", 4318),
    }
    for component in ("processor", "query"):
        c = container(one(defaults, "Deployment", f"{FULLNAME}-{component}"))
        assert [(p["name"], p["containerPort"]) for p in c["ports"]] == [("http", 4318)]

    service = one(defaults, "Service", f"{FULLNAME}-receiver")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["otlp-grpc"]["port"] == 4317
    assert ports["otlp-grpc"]["appProtocol"] == "grpc"
    assert ports["otlp-grpc"]["targetPort"] == "otlp-grpc"
    assert ports["http"]["port"] == 4318
    assert ports["http"]["targetPort"] == "http"
    query = one(defaults, "Service", f"{FULLNAME}-query")
    assert [(p["port"], p["targetPort"]) for p in query["spec"]["ports"]] == [(80, "http")]
    # Every Service selects exactly its component's pods.
    for component in COMPONENTS:
        svc = one(defaults, "Service", f"{FULLNAME}-{component}")
        assert svc["spec"]["selector"]["app.kubernetes.io/component"] == component


def test_settings_reach_every_role_through_env_from(defaults: list[Manifest]) -> None:
    config_map = one(defaults, "ConfigMap", FULLNAME)
    secret = one(defaults, "Secret", FULLNAME)
    for component in COMPONENTS:
        env_from = container(one(defaults, "Deployment", f"{FULLNAME}-{component}"))["envFrom"]
        assert {"configMapRef": {"name": config_map["metadata"]["name"]}} in env_from
        assert {"secretRef": {"name": secret["metadata"]["name"]}} in env_from
    data = config_map["data"]
    assert data["OTELFUSE_HTTP_ADDRESS"] == "0.0.0.0:4318"
    assert data["OTELFUSE_GRPC_ADDRESS"] == "0.0.0.0:4317"
    assert data["OTELFUSE_DATA_DIR"] == "/var/lib/otelfuse"
    # Secrets never land in the ConfigMap.
    assert not any(key in data for key in secret["stringData"])
    assert all(key.startswith("OTELFUSE_") for key in [*data, *secret["stringData"]])


@pytest.mark.parametrize(
    "values_file", ["default-values.yaml", "monitoring-values.yaml", "production-values.yaml"]
)
def test_the_rendered_environment_is_accepted_by_otelfuse(values_file: str) -> None:
    """ConfigMap + Secret, as the pods see them, load into otelfuse's own Settings."""
    docs = render(load_values(values_file))
    config_map, secret = one(docs, "ConfigMap", FULLNAME), one(docs, "Secret", FULLNAME)
    env = {**config_map["data"], **secret["stringData"]}
    settings = Settings.load(env=env)
    assert settings.server.http_address == "0.0.0.0:4318"
    assert str(settings.data_dir) == "/var/lib/otelfuse"
    assert settings.clickhouse.url.startswith("clickhouse://")
    assert settings.init_project.secret_key
    assert require_postgres_url(settings, "receiver").startswith("postgresql://")
    values = load_values(values_file)
    assert settings.publisher.bootstrap_servers == values["kafka"]["bootstrapServers"]


def test_clickhouse_url_is_built_and_encoded(production: list[Manifest]) -> None:
    values = load_values("production-values.yaml")["clickhouse"]
    url = urlparse(one(production, "Secret", FULLNAME)["stringData"]["OTELFUSE_CLICKHOUSE_URL"])
    assert url.scheme == "clickhouse"
    assert (url.hostname, url.port) == (values["host"], 9000)
    assert unquote(url.username or "") == values["user"]
    assert unquote(url.password or "") == values["password"]
    assert url.path == f"/{values['database']}"


def test_s3_keys_reach_the_settings_otelfuse_reads() -> None:
    values = merge(
        load_values("production-values.yaml"),
        {"s3": {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3-secret"}},
    )
    docs = render(values)
    env = {
        **one(docs, "ConfigMap", FULLNAME)["data"],
        **one(docs, "Secret", FULLNAME)["stringData"],
    }
    s3 = Settings.load(env=env).blobs.s3
    assert (s3.access_key, s3.secret_key, s3.bucket) == (
        "AKIAEXAMPLE",
        "s3-secret",
        "otelfuse-media",
    )


def test_existing_secret_replaces_the_chart_secret() -> None:
    docs = render(load_values("existing-secret-values.yaml"))
    assert find(docs, "Secret") == []  # neither the release Secret nor the migrate hook Secret
    for component in COMPONENTS:
        env_from = container(one(docs, "Deployment", f"{FULLNAME}-{component}"))["envFrom"]
        assert {"secretRef": {"name": "otelfuse-credentials"}} in env_from
    job_env = {e["name"]: e for e in container(one(docs, "Job", f"{FULLNAME}-migrate"))["env"]}
    for name in (
        "OTELFUSE_CLICKHOUSE_URL",
        "OTELFUSE_POSTGRES_URL",
        "OTELFUSE_INIT_PROJECT_ID",
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY",
        "OTELFUSE_INIT_PROJECT_SECRET_KEY",
    ):
        assert job_env[name]["valueFrom"]["secretKeyRef"] == {
            "name": "otelfuse-credentials",
            "key": name,
        }
    assert job_env["OTELFUSE_CLICKHOUSE_DATABASE"]["value"] == "llm_observability"


def test_autoscaling_replaces_fixed_replicas(defaults: list[Manifest]) -> None:
    for component in ("receiver", "processor"):
        hpa = one(defaults, "HorizontalPodAutoscaler", f"{FULLNAME}-{component}")
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"{FULLNAME}-{component}"
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert "replicas" not in one(defaults, "Deployment", f"{FULLNAME}-{component}")["spec"]
    assert one(defaults, "Deployment", f"{FULLNAME}-query")["spec"]["replicas"] == 2

    fixed = render(load_values("monitoring-values.yaml"))
    assert find(fixed, "HorizontalPodAutoscaler") == []
    for component in ("receiver", "processor"):
        assert one(fixed, "Deployment", f"{FULLNAME}-{component}")["spec"]["replicas"] == 3


def test_each_deployment_has_a_disruption_budget(
    defaults: list[Manifest], production: list[Manifest]
) -> None:
    for component in COMPONENTS:
        pdb = one(defaults, "PodDisruptionBudget", f"{FULLNAME}-{component}")
        deployment = one(defaults, "Deployment", f"{FULLNAME}-{component}")
        assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}
    receiver = one(production, "PodDisruptionBudget", f"{FULLNAME}-receiver")["spec"]
    assert receiver["minAvailable"] == 2
    assert "maxUnavailable" not in receiver


def test_config_change_rolls_the_pods() -> None:
    values = load_values("default-values.yaml")

    def checksums(v: dict[str, Any]) -> set[str]:
        return {
            d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            for d in find(render(v), "Deployment")
        }

    before = checksums(values)
    assert len(before) == 1
    changed = copy.deepcopy(values)
    changed["kafka"]["compression"] = "lz4"
    assert checksums(changed) != before
    rotated = copy.deepcopy(values)
    rotated["clickhouse"]["password"] = "rotated"
    assert checksums(rotated) != before


def test_names_fit_63_characters() -> None:
    release = "a-very-long-release-name-that-goes-on-and-on-for-ever-and-ever-x"
    docs = render(load_values("default-values.yaml"), release=release)
    for doc in docs:
        name = doc["metadata"]["name"]
        assert len(name) <= 63 and not name.endswith("-"), name
    assert {d["metadata"]["name"].rsplit("-", 1)[1] for d in find(docs, "Deployment")} == set(
        COMPONENTS
    )


def test_s3_settings_reach_the_roles_and_the_migrate_job(production: list[Manifest]) -> None:
    values = load_values("production-values.yaml")["s3"]
    config = one(production, "ConfigMap", FULLNAME)["data"]
    assert config["OTELFUSE_BLOB_BACKEND"] == "s3"
    assert config["OTELFUSE_S3_ENDPOINT"] == values["endpoint"]
    assert config["OTELFUSE_S3_REGION"] == values["region"]
    assert config["OTELFUSE_BLOB_OFFLOAD_BYTES"] == "262144"
    job_env = {
        e["name"]: e for e in container(one(production, "Job", f"{FULLNAME}-migrate"))["env"]
    }
    assert job_env["OTELFUSE_S3_BUCKET"]["value"] == values["bucket"]
    assert job_env["OTELFUSE_BLOB_BACKEND"]["value"] == "s3"
    ref = job_env["OTELFUSE_S3_SECRET_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref["optional"] is True and ref["key"] == "OTELFUSE_S3_SECRET_KEY"


def test_s3_keys_go_to_the_secrets_under_the_names_otelfuse_reads() -> None:
    values = merge(
        load_values("default-values.yaml"),
        {"s3": {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3-secret"}},
    )
    docs = render(values)
    secret = one(docs, "Secret", FULLNAME)["stringData"]
    hook = one(docs, "Secret", f"{FULLNAME}-migrate")["stringData"]
    for data in (secret, hook):
        assert data["OTELFUSE_S3_ACCESS_KEY"] == "AKIAEXAMPLE"
        assert data["OTELFUSE_S3_SECRET_KEY"] == "s3-secret"
    config = one(docs, "ConfigMap", FULLNAME)["data"]
    settings = Settings.load(env={**config, **secret})
    assert settings.blobs.backend == "s3"
    assert (settings.blobs.s3.access_key, settings.blobs.s3.secret_key) == (
        "AKIAEXAMPLE",
        "s3-secret",
    )
    assert "s3-secret" not in str(config)


def test_minio_for_trying_it_out() -> None:
    docs = render(load_values("minio-values.yaml"))
    service = one(docs, "Service", f"{FULLNAME}-minio")
    assert service["spec"]["ports"][0]["port"] == 9000
    minio = container(one(docs, "Deployment", f"{FULLNAME}-minio"))
    env = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in minio["env"] if "valueFrom" in e
    }
    assert env == {
        "MINIO_ROOT_USER": "OTELFUSE_S3_ACCESS_KEY",
        "MINIO_ROOT_PASSWORD": "OTELFUSE_S3_SECRET_KEY",
    }
    config = one(docs, "ConfigMap", FULLNAME)["data"]
    secret = one(docs, "Secret", FULLNAME)["stringData"]
    settings = Settings.load(env={**config, **secret})
    assert settings.blobs.s3.endpoint == f"http://{FULLNAME}-minio:9000"
    assert settings.blobs.s3.bucket == "otelfuse"
    assert settings.blobs.s3.secret_key == "minio-change-me"
    assert find(render(load_values("default-values.yaml")), "Deployment", f"{FULLNAME}-minio") == []


def test_production_scenario_facts(production: list[Manifest]) -> None:
    receiver = one(production, "Deployment", f"{FULLNAME}-receiver")
    c = container(receiver)
    assert c["image"] == (
        "registry.example.com/otelfuse/otelfuse@sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    pod = receiver["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"workload": "observability"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert pod["priorityClassName"] == "otelfuse-critical"
    assert one(production, "Service", f"{FULLNAME}-receiver")["spec"]["type"] == "LoadBalancer"
    config = one(production, "ConfigMap", FULLNAME)["data"]
    assert config["OTELFUSE_KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert config["OTELFUSE_S3_BUCKET"] == "otelfuse-media"
    assert Settings.load(env=config).blobs.backend == "s3"
    secret = one(production, "Secret", FULLNAME)["stringData"]
    assert secret["OTELFUSE_POSTGRES_URL"].startswith("postgresql://")
    ingress = one(production, "Ingress", FULLNAME)
    backends = {
        p["path"]: p["backend"]["service"]["name"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert backends["/api/public/otel"] == f"{FULLNAME}-receiver"
    assert backends["/v1/traces"] == f"{FULLNAME}-receiver"
    assert backends["/api/public/scores"] == f"{FULLNAME}-receiver"  # POST only; reads are v2/v3
    assert backends["/api/public/ingestion"] == f"{FULLNAME}-receiver"
    assert backends["/api/public"] == f"{FULLNAME}-query"
    assert config["OTELFUSE_KAFKA_SCORES_TOPIC"] == "otelfuse.scores"


def test_archive_settings_and_the_archiver_deployment(defaults: list[Manifest]) -> None:
    config = one(defaults, "ConfigMap", FULLNAME)["data"]
    assert config["OTELFUSE_ARCHIVE_ENABLED"] == "true"
    assert config["OTELFUSE_KAFKA_RAW_TOPIC"] == "otelfuse.raw"
    assert config["OTELFUSE_KAFKA_ARCHIVER_GROUP"] == "otelfuse-archiver"
    assert config["OTELFUSE_ARCHIVE_OBJECT_MAX_BYTES"] == "8388608"
    assert config["OTELFUSE_BLOB_BACKEND"] == "s3"
    archiver = one(defaults, "Deployment", f"{FULLNAME}-archiver")
    assert container(archiver)["args"] == ["archiver"]
    assert archiver["spec"]["replicas"] == 1
    values = load_values("default-values.yaml")
    values["archive"] = {"enabled": False}
    off = render(values)
    assert one(off, "ConfigMap", FULLNAME)["data"]["OTELFUSE_ARCHIVE_ENABLED"] == "false"
    assert not [d for d in off if d["metadata"]["name"] == f"{FULLNAME}-archiver"]


# ---- monitoring ------------------------------------------------------------------------------


def test_monitoring_is_off_by_default(defaults: list[Manifest]) -> None:
    assert not [d for d in defaults if d["apiVersion"].startswith(CRD_GROUP)]


def test_service_monitor_scrapes_every_role() -> None:
    docs = render(load_values("monitoring-values.yaml"))
    monitor = one(docs, "ServiceMonitor", FULLNAME)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]
    for component in COMPONENTS:
        labels = one(docs, "Service", f"{FULLNAME}-{component}")["metadata"]["labels"]
        assert selector["matchLabels"].items() <= labels.items()
        assert labels["app.kubernetes.io/component"] in selector["matchExpressions"][0]["values"]
        ports = one(docs, "Service", f"{FULLNAME}-{component}")["spec"]["ports"]
        assert "http" in {p["name"] for p in ports}


def test_alerts_cover_the_failure_modes_with_declared_metrics() -> None:
    docs = render(load_values("monitoring-values.yaml"))
    rule = one(docs, "PrometheusRule", FULLNAME)
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    exprs = {r["alert"]: r["expr"] for r in rules}
    used = set().union(*(metrics_in(e) for e in exprs.values()))
    assert {
        "otelfuse_receiver_refused_spans_total",
        "otelfuse_processor_group_lag_records",
        "otelfuse_processor_dead_lettered_records_total",
        "otelfuse_processor_batches_total",
    } <= used
    assert 'outcome="failure"' in exprs["OtelfuseInsertFailures"]
    missing = used - declared_series()
    assert not missing, f"alerts use metrics the code does not declare: {sorted(missing)}"
    for r in rules:
        assert r["labels"]["severity"] in ("warning", "critical")
        assert r["labels"]["team"] == "observability"
        assert r["annotations"]["runbook_url"].startswith(
            "https://docs.example.com/otelfuse/operations.md#otelfuse"
        )
        assert f'namespace="{NAMESPACE}"' in r["expr"]
    # Every alert has a section in docs/operations.md that the runbook URL points to.
    operations = (ROOT / "docs" / "operations.md").read_text().lower()
    for alert in exprs:
        assert f"### {alert.lower()}" in operations, alert


# ---- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"receiver": {"replicas": "three"}}, "/receiver/replicas"),
        ({"kafka": {"compression": "brotli"}}, "/kafka/compression"),
        ({"replicaCount": 3}, "replicaCount"),
        ({"receiver": {"replica": 3}}, "replica"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"processor": {"autoscaling": {"maxReplicas": 0}}}, "/processor/autoscaling/maxReplicas"),
        ({"clickhouse": {"port": 70000}}, "/clickhouse/port"),
        ({"clickhouse": {"url": "http://clickhouse:8123"}}, "/clickhouse/url"),
        ({"config": {"extraEnv": {"KAFKA_THING": "x"}}}, "KAFKA_THING"),
        ({"config": {"batchMaxRecords": 100000}}, "/config/batchMaxRecords"),
        ({"volumes": {"tmpSizeLimit": "lots"}}, "/volumes/tmpSizeLimit"),
        ({"postgresql": {"url": "mysql://db/otelfuse"}}, "/postgresql/url"),
    ],
)
def test_schema_refuses_bad_values(change: dict[str, Any], message: str) -> None:
    values = merge(load_values("default-values.yaml"), change)
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
            chart.validate_schema(values)
        with pytest.raises(helm.HelmValuesError):
            chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kafka": {"bootstrapServers": ""}}, "set kafka.bootstrapServers"),
        ({"clickhouse": {"host": ""}}, "no ClickHouse configured"),
        ({"clickhouse": {"url": "clickhouse://u:p@h:9000/otelfuse"}}, "not both"),
        ({"initProject": {"secretKey": ""}}, "initProject.secretKey"),
        ({"existingSecret": "creds"}, "clickhouse.host, clickhouse.password, initProject.id"),
        ({"processor": {"autoscaling": {"maxReplicas": 13}}}, "exceed the 12 partitions"),
        (
            {
                "kafka": {"topics": {"observationsPartitions": 3}},
                "processor": {"replicas": 4, "autoscaling": {"enabled": False}},
            },
            "4 processor replicas exceed the 3 partitions",
        ),
        (
            {"receiver": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}},
            "exceeds maxReplicas",
        ),
        ({"prometheusRule": {"enabled": True}}, "needs serviceMonitor.enabled"),
        ({"s3": {"accessKeyId": "AKIA"}}, "without s3.secretAccessKey"),
        ({"s3": {"bucket": ""}}, "set s3.bucket"),
        ({"minio": {"enabled": True}}, "minio.rootPassword"),
    ],
)
def test_impossible_combinations_fail_the_render(change: dict[str, Any], message: str) -> None:
    values = merge(load_values("default-values.yaml"), change)
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render(values)


def test_defaults_alone_do_not_render() -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape("kafka.bootstrapServers")):
        render({})


def test_postgresql_is_required_unless_the_existing_secret_holds_it() -> None:
    """The scale-out roles do not start without OTELFUSE_POSTGRES_URL: an install without it
    fails to render with a message naming the value, instead of producing crashing pods. (A
    render-time check like the other required values, not a schema rule: `helm lint` of the
    bare chart must pass.)"""
    missing = merge(load_values("default-values.yaml"), {"postgresql": {"url": ""}})
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(missing)  # the schema checks the URL's form only
    with pytest.raises(helm.HelmRenderError, match=re.escape("set postgresql.url")) as refused:
        render(missing)
    assert "OTELFUSE_POSTGRES_URL" in str(refused.value)
    # existingSecret carries OTELFUSE_POSTGRES_URL itself: an empty postgresql.url is right
    docs = render(load_values("existing-secret-values.yaml"))
    assert one(docs, "Job", f"{FULLNAME}-migrate")


def test_notes_tell_endpoints_and_keys() -> None:
    text = notes(load_values("default-values.yaml"))
    assert f"{FULLNAME}-receiver.{NAMESPACE}.svc:4317" in text
    assert f"http://{FULLNAME}-receiver.{NAMESPACE}.svc:4318/v1/traces" in text
    assert f"http://{FULLNAME}-query.{NAMESPACE}.svc/api/public/traces" in text
    assert f"get secret {FULLNAME} " in text
    assert "OTELFUSE_INIT_PROJECT_SECRET_KEY" in text
    assert "get secret otelfuse-credentials " in notes(load_values("existing-secret-values.yaml"))
