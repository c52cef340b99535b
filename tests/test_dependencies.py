"""Every third-party module the service imports comes from a package it declares.

The service runs from ``pip install .`` (Dockerfile, Helm image) without the ``dev`` extras, so
a module imported by ``ingest``, ``processors`` or ``storage`` that only a dev dependency (or
another package's dependency) installs would fail at start in production while every test
passed. Imports under ``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PACKAGES = ("ingest", "processors", "storage")
BUILD_TOOLS = {"ingest/mapping/build.py"}
"""``make compile``'s builder: runs only where the dev tools (mypy, setuptools) are installed and
builds nothing otherwise; not imported by the service."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        _canonical(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0])
        for spec in project["dependencies"]
    }


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of the statements under ``if TYPE_CHECKING:``."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.body:
                for inner in ast.walk(child):
                    if hasattr(inner, "lineno"):
                        lines.add(inner.lineno)
    return lines


def _imported_top_levels() -> dict[str, str]:
    """Top-level module -> a file importing it, over the service packages."""
    found: dict[str, str] = {}
    for package in SERVICE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            if "_pb" in path.parts or "_compiled" in path.parts or where in BUILD_TOOLS:
                continue
            tree = ast.parse(path.read_text(), str(path))
            skipped = _type_checking_only(tree)
            for node in ast.walk(tree):
                if getattr(node, "lineno", None) in skipped:
                    continue
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], where)
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    declared = _declared()
    providers = packages_distributions()
    ours = set(SERVICE_PACKAGES)
    undeclared = {}
    for module, where in _imported_top_levels().items():
        if module in ours or module in sys.stdlib_module_names or module == "__future__":
            continue
        distributions = {_canonical(d) for d in providers.get(module, [])}
        if not distributions & declared:
            undeclared[module] = (where, sorted(distributions))
    assert undeclared == {}
