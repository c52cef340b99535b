"""Real client programs (``tests/clients/``) run in their own interpreter, because SDKs patch
global state (tracer providers, instrumented modules)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.support.service import REPO

__all__ = ["run_client"]


def run_client(module: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``python -m tests.clients.<module>`` and return the JSON it prints last."""
    result = subprocess.run(
        [sys.executable, "-m", f"tests.clients.{module}", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return output
