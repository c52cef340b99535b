"""Rendering ``helm/otelfuse`` offline (Helm v4 through helm-python-sdk) for the deploy tests."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import helm_python as helm
import yaml

from tests.deploy.metrics import ROOT

__all__ = [
    "CHART",
    "CI_VALUES",
    "COMPONENTS",
    "CRD_GROUP",
    "FULLNAME",
    "KUBE_VERSION",
    "NAMESPACE",
    "RELEASE",
    "Manifest",
    "container",
    "find",
    "load_values",
    "merge",
    "notes",
    "one",
    "pod_specs",
    "render",
    "render_files",
]

CHART = ROOT / "helm" / "otelfuse"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBE_VERSION = "1.30.0"
RELEASE, NAMESPACE = "obs", "observability"
FULLNAME = "obs-otelfuse"
COMPONENTS = ("receiver", "processor", "query", "archiver")
CRD_GROUP = "monitoring.coreos.com/"

Manifest = dict[str, Any]


def load_values(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CHART / "ci" / name).read_text())
    return data


def render_files(values: dict[str, Any], *, release: str = RELEASE) -> dict[str, str]:
    """``{template path: rendered text}``, as ``helm install`` would render it."""
    with helm.Chart.load(CHART) as chart:
        return chart.render(
            copy.deepcopy(values), name=release, namespace=NAMESPACE, is_install=True
        )


def render(values: dict[str, Any], *, release: str = RELEASE) -> list[Manifest]:
    """The rendered Kubernetes objects (NOTES.txt left out, empty documents dropped)."""
    docs: list[Manifest] = []
    for path, text in render_files(values, release=release).items():
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def notes(values: dict[str, Any]) -> str:
    return render_files(values)[f"{CHART.name}/templates/NOTES.txt"]


def find(docs: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: list[Manifest], kind: str, name: str) -> Manifest:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs(docs: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """``(workload name, pod spec)`` of every Deployment and Job."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def container(doc: Manifest) -> Manifest:
    containers = doc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Manifest = containers[0]
    return result


def merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``change`` merged in recursively (a copy)."""
    result = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result
