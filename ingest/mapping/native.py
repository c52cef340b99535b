"""The mypyc-compiled build of the span mapping, and its pure-Python fallback.

The mapping modules (``MODULES``) are ordinary, mypy-strict Python. ``python -m
ingest.mapping.build build`` (``make compile``) compiles them with mypyc (shipped with mypy,
https://mypyc.readthedocs.io/en/latest/getting_started.html) into C extensions in
``ingest/mapping/_compiled/``, a directory outside the package's import path, together with
``build.json``: the SHA-256 of every compiled source and of the project modules they import
(``DEPENDENCIES``), and the interpreter's extension suffix. ``ingest/mapping/__init__.py`` calls
``activate`` before importing any submodule: only when the build exists, matches the running
interpreter and was made from exactly the current sources does it put the build directory first
on ``ingest.mapping.__path__``, so ``import ingest.mapping.span`` loads the compiled module.
Otherwise (no compiler, never built, sources edited since, another Python, or
``OTELFUSE_MAPPING_PURE=1``) the ``.py`` files are imported as they are; a stale build is
reported with a warning, never used. Output is the same either way (the golden tests run
against both, ``tests/ingest/mapping/test_native.py``).

``python -m ingest.mapping.build status`` prints which is in use and why.

mypyc restrictions the modules keep to (https://mypyc.readthedocs.io/en/latest/differences_from_python.html):
calls between compiled modules are bound at compile time, so monkeypatching a function of
one of them does not reach its compiled callers; compiled classes can't be subclassed from
interpreted code.

Module-level constants of the compiled modules are declared ``Final``: compiled, a ``Final``
name is a C static (a literal is inlined), while any other module global is a lookup in the
module's dict at every use, about 150 instructions (``bench.mapping_instructions``; the rules
read a few dozen constants per span). The flip side: patching such a constant at run time does
not reach compiled code. Likewise ``isinstance`` takes a tuple of types, never an ``int | float``
union, which would be built anew at every call (about 400 instructions).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import sys
import sysconfig
import warnings
from collections.abc import MutableSequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BUILD_DIR",
    "DEPENDENCIES",
    "MODULES",
    "PURE_ENV",
    "NativeState",
    "activate",
    "build_state",
    "compiled_modules",
    "ext_suffix",
    "source_digest",
    "state",
]

MODULES: tuple[str, ...] = (
    "attributes",
    "context",
    "evaluation",
    "fields",
    "io",
    "logs",
    "metadata",
    "nested",
    "observation_type",
    "partition",
    "request",
    "span",
    "system_instructions",
    "tools",
    "trace_fields",
    "usage",
    "values",
    "view",
)
"""The ``ingest.mapping`` submodules that are compiled (all but ``__init__`` and this one)."""

DEPENDENCIES: tuple[str, ...] = ("storage/records.py", "storage/nesting.py")
"""Project modules (paths from the repository root) the compiled modules import; mypyc may
inline their ``Final`` constants, so a change to them also makes the build stale."""

PURE_ENV = "OTELFUSE_MAPPING_PURE"
"""Set to ``1`` to ignore a build and run the pure-Python modules."""

_PACKAGE_DIR = Path(__file__).resolve().parent
_ROOT = _PACKAGE_DIR.parents[1]
BUILD_DIR = _PACKAGE_DIR / "_compiled"
"""Where ``ingest.mapping.build`` puts the extensions (under ``ingest/mapping/``) and
``build.json``."""

_IN_BUILD = Path("ingest", "mapping")
"""Where the extensions of ``ingest.mapping`` are under a build directory."""


@dataclass(frozen=True, slots=True)
class NativeState:
    """Whether the compiled build can be used.

    Attributes:
        usable: the build exists, is fresh and fits this interpreter (and ``PURE_ENV`` is unset).
        reason: one line for humans: why it is or is not used.
        stale: a build exists but was made from other sources (worth a warning).
    """

    usable: bool
    reason: str
    stale: bool = False


def _sources() -> list[Path]:
    return [_PACKAGE_DIR / f"{name}.py" for name in MODULES] + [
        _ROOT / path for path in DEPENDENCIES
    ]


def source_digest() -> str:
    """SHA-256 (hex) over the paths and contents of the compiled sources and ``DEPENDENCIES``.

    Raises ``OSError`` when one can't be read.
    """
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(path.relative_to(_ROOT).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def ext_suffix() -> str:
    return str(sysconfig.get_config_var("EXT_SUFFIX"))


def state(build_dir: Path = BUILD_DIR) -> NativeState:
    """Whether the build in ``build_dir`` can be used now (reads its ``build.json``, hashes the
    sources: about a millisecond)."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return NativeState(False, f"pure Python: {PURE_ENV} is set")
    return build_state(build_dir)


def build_state(build_dir: Path = BUILD_DIR) -> NativeState:
    """``state`` without the ``PURE_ENV`` override: whether the build is complete, fresh and
    fits this interpreter."""
    stamp_path = build_dir / "build.json"
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return NativeState(False, "pure Python: not compiled (make compile)")
    except (OSError, ValueError) as exc:
        return NativeState(False, f"pure Python: unreadable {stamp_path}: {exc}", stale=True)
    if not isinstance(stamp, dict) or stamp.get("ext_suffix") != ext_suffix():
        return NativeState(False, "pure Python: compiled for another interpreter (make compile)")
    try:
        current = source_digest()
    except OSError as exc:
        return NativeState(False, f"pure Python: can't hash the sources: {exc}")
    if stamp.get("sources") != current:
        return NativeState(
            False,
            "pure Python: the compiled build is stale, sources changed since (make compile)",
            stale=True,
        )
    modules_dir = build_dir / _IN_BUILD
    missing = [name for name in MODULES if not (modules_dir / f"{name}{ext_suffix()}").exists()]
    if missing:
        return NativeState(False, f"pure Python: build incomplete, missing {missing}", stale=True)
    return NativeState(True, f"compiled with mypyc {stamp.get('mypy', '?')} ({build_dir})")


def activate(package_path: MutableSequence[str]) -> NativeState:
    """Put the build directory first on ``package_path`` (``ingest.mapping.__path__``) when
    ``state()`` says it is usable; warn (``RuntimeWarning``) about a stale build. Must run
    before any ``MODULES`` submodule is imported."""
    current = state()
    if current.usable:
        directory = str(BUILD_DIR / _IN_BUILD)
        if directory not in package_path:
            package_path.insert(0, directory)
    elif current.stale:
        warnings.warn(f"ingest.mapping: {current.reason}", RuntimeWarning, stacklevel=2)
    return current


def compiled_modules() -> list[str]:
    """Names of the imported ``MODULES`` that were loaded from C extensions (``MODULES`` order;
    empty when the mapping runs as pure Python)."""
    names = []
    for name in MODULES:
        module = sys.modules.get(f"ingest.mapping.{name}")
        spec = getattr(module, "__spec__", None)
        if isinstance(getattr(spec, "loader", None), importlib.machinery.ExtensionFileLoader):
            names.append(f"ingest.mapping.{name}")
    return names
