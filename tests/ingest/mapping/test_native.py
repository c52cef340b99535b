"""The mypyc-compiled mapping and its pure-Python fallback (``ingest.mapping.native``).

The goldens are the contract for both: ``test_goldens_with_each_build`` runs the golden and
request tests in a child pytest once with the compiled build (built first when a C compiler is
there; skipped otherwise) and once with ``OTELFUSE_MAPPING_PURE=1``, and each child first checks
that the build it was meant to use is the one imported (``test_the_expected_build_is_imported``).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.mapping import native
from ingest.mapping.build import _compiler, build

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "ingest" / "mapping"
EXPECT_ENV = "OTELFUSE_TEST_MAPPING_BUILD"
"""``compiled`` / ``pure``: what the child pytest of ``test_goldens_with_each_build`` expects."""

MAPPING_TESTS = [
    "tests/ingest/mapping/test_native.py::test_the_expected_build_is_imported",
    "tests/ingest/mapping/test_golden.py",
    "tests/ingest/mapping/test_logs_golden.py",
    "tests/ingest/mapping/test_request.py",
]


def _all_modules() -> list[str]:
    return [f"ingest.mapping.{name}" for name in native.MODULES]


def test_the_expected_build_is_imported() -> None:
    import ingest.mapping.logs
    import ingest.mapping.partition  # the receivers' Kafka partition; the mapping never imports it

    expected = os.environ.get(EXPECT_ENV)
    loaded = ingest.mapping.compiled_modules()
    if expected == "compiled" or (expected is None and ingest.mapping.NATIVE.usable):
        assert loaded == _all_modules(), ingest.mapping.NATIVE.reason
        assert ingest.mapping.NATIVE.usable
    else:
        assert loaded == []


def test_every_mapping_module_is_compiled() -> None:
    on_disk = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert sorted([*native.MODULES, "__init__", "build", "native"]) == on_disk


def test_dependencies_cover_the_project_imports_of_compiled_modules() -> None:
    imported: set[str] = set()
    for name in native.MODULES:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    project = {
        module
        for module in imported
        if module.split(".")[0] in {"ingest", "storage", "processors"}
        and not module.startswith("ingest.mapping")
    }
    assert {f"{module.replace('.', '/')}.py" for module in project} == set(native.DEPENDENCIES)


def _fake_build(build_dir: Path, sources: str, modules: tuple[str, ...]) -> None:
    modules_dir = build_dir / "ingest" / "mapping"
    modules_dir.mkdir(parents=True)
    for name in modules:
        (modules_dir / f"{name}{native.ext_suffix()}").write_bytes(b"")
    stamp = {"sources": sources, "ext_suffix": native.ext_suffix(), "mypy": "test"}
    (build_dir / "build.json").write_text(json.dumps(stamp), encoding="utf-8")


def test_a_build_of_the_current_sources_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    _fake_build(tmp_path, native.source_digest(), native.MODULES)
    assert native.state(tmp_path) == native.NativeState(
        True, f"compiled with mypyc test ({tmp_path})"
    )


def test_a_build_of_other_sources_is_stale_and_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    _fake_build(tmp_path, "0" * 64, native.MODULES)
    current = native.state(tmp_path)
    assert not current.usable
    assert current.stale
    assert "stale" in current.reason


def test_an_incomplete_or_missing_build_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    assert native.state(tmp_path) == native.NativeState(
        False, "pure Python: not compiled (make compile)"
    )
    _fake_build(tmp_path, native.source_digest(), native.MODULES[1:])
    current = native.state(tmp_path)
    assert not current.usable
    assert f"missing ['{native.MODULES[0]}']" in current.reason


def test_the_environment_variable_forces_pure_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_build(tmp_path, native.source_digest(), native.MODULES)
    monkeypatch.setenv(native.PURE_ENV, "1")
    assert not native.state(tmp_path).usable


def _run_mapping_tests(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MAPPING_TESTS],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("which", ["compiled", "pure"])
def test_goldens_with_each_build(which: str) -> None:
    env = {EXPECT_ENV: which}
    if which == "compiled":
        if _compiler() is None:
            pytest.skip("no C compiler: only the pure-Python mapping can run here")
        print(build())  # a no-op when the build is up to date (make compile)
        env[native.PURE_ENV] = "0"
    else:
        env[native.PURE_ENV] = "1"
    result = _run_mapping_tests(env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]


def test_without_a_c_compiler_nothing_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    before = sorted(native.BUILD_DIR.rglob("*")) if native.BUILD_DIR.exists() else None
    monkeypatch.setenv("CC", "/nonexistent/otelfuse-test-cc")
    assert build(force=True) == "no C compiler found: the mapping stays pure Python"
    after = sorted(native.BUILD_DIR.rglob("*")) if native.BUILD_DIR.exists() else None
    assert after == before
