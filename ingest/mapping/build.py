"""Build, and report on, the mypyc-compiled span mapping (``ingest.mapping.native``).

    python -m ingest.mapping.build build [--force]   # make compile; no-op when up to date
    python -m ingest.mapping.build status            # compiled or pure Python, and why

``build`` runs mypyc (https://mypyc.readthedocs.io/en/latest/getting_started.html, the
setuptools ``mypycify`` route) over ``native.MODULES`` in a child process, in a staging directory
next to ``native.BUILD_DIR``; the finished build (extensions and ``build.json``) replaces the old
one in one rename. Without a C compiler or mypyc it builds nothing and says so: the mapping stays
pure Python. Not compiled itself, and not imported by the service.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from ingest.mapping.native import (
    BUILD_DIR,
    MODULES,
    build_state,
    compiled_modules,
    ext_suffix,
    source_digest,
    state,
)

__all__ = ["build", "main"]

_GROUP = "ingest.mapping._native"
"""mypyc group name: the shared library of the build is ``ingest.mapping._native__mypyc``."""


def _compiler() -> str | None:
    """Path of the C compiler setuptools would use (``$CC`` or Python's ``CC``), if installed."""
    command = os.environ.get("CC", "").split() or str(sysconfig.get_config_var("CC") or "").split()
    return shutil.which(command[0] if command else "cc")


def build(*, force: bool = False) -> str:
    """Compile ``native.MODULES`` into ``native.BUILD_DIR`` (20-30 s); returns what was done.

    Without a C compiler or mypyc nothing is built (the message says so; not an error). The new
    build replaces the old one only once complete. Raises ``subprocess.CalledProcessError`` when
    mypyc or the compiler fails (the old build, if any, is left as it was).
    """
    if _compiler() is None:
        return "no C compiler found: the mapping stays pure Python"
    try:
        from mypy.version import __version__ as mypy_version
        from mypyc import build as _mypyc_build  # noqa: F401
    except ImportError:
        return "mypyc (part of mypy) is not installed: the mapping stays pure Python"
    if not force and build_state().usable:
        (BUILD_DIR / "build.json").touch()  # newer than the sources again, for make
        return f"up to date ({BUILD_DIR})"
    digest = source_digest()  # before compiling: an edit during the build leaves it stale
    package_dir = BUILD_DIR.parent
    staging = Path(tempfile.mkdtemp(prefix=f"{BUILD_DIR.name}.", dir=package_dir))
    old = staging.with_name(f"{staging.name}.old")
    try:
        with tempfile.TemporaryDirectory(prefix="otelfuse-mypyc-") as work:
            subprocess.run(
                [sys.executable, "-m", "ingest.mapping.build", "_setup", str(staging)],
                cwd=work,
                check=True,
                env={**os.environ, "PYTHONPATH": str(package_dir.parents[1])},
            )
        stamp = {"sources": digest, "ext_suffix": ext_suffix(), "mypy": mypy_version}
        (staging / "build.json").write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        if BUILD_DIR.exists():
            BUILD_DIR.rename(old)
        staging.rename(BUILD_DIR)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return f"compiled {len(MODULES)} modules into {BUILD_DIR}"


def _setup(build_lib: str) -> None:
    """setuptools ``build_ext`` of ``mypycify(MODULES)``, run in an empty working directory (so
    setuptools reads no project configuration); C sources and objects go under it."""
    from mypyc.build import mypycify
    from setuptools import setup

    package_dir = BUILD_DIR.parent
    paths = [str(package_dir / f"{name}.py") for name in MODULES]
    setup(
        name="otelfuse-mapping-compiled",
        py_modules=[],
        ext_modules=mypycify(paths, group_name=_GROUP, target_dir="c"),
        script_args=["--quiet", "build_ext", "--build-lib", build_lib, "--build-temp", "obj"],
    )


def main(argv: list[str] | None = None) -> None:
    """Command line: ``build [--force]``, ``status``."""
    parser = argparse.ArgumentParser(prog="python -m ingest.mapping.build", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="compile the mapping (no-op when up to date)")
    build_cmd.add_argument("--force", action="store_true", help="rebuild even when up to date")
    commands.add_parser("status", help="say whether the compiled build is used, and why")
    setup_cmd = commands.add_parser("_setup")
    setup_cmd.add_argument("build_lib")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build(force=args.force))
    elif args.command == "status":
        for name in MODULES:
            importlib.import_module(f"ingest.mapping.{name}")
        print(state().reason)
        print(f"compiled modules loaded: {len(compiled_modules())} of {len(MODULES)}")
    else:
        _setup(args.build_lib)


if __name__ == "__main__":
    main()
