"""Two budgets for every fuzz test: a bounded run in ``make test`` / ``make test-fast`` and a
long run behind the ``fuzz`` marker (``make test-fuzz``).

Each fuzz test takes a ``Budget`` parameter (``@budgets``) and applies ``budget.settings`` to
its inner ``@given`` function:

- ``bounded``: a few dozen examples per test, derandomized (the same examples on every run, so
  ``make test`` stays deterministic and takes seconds), no example database;
- ``long`` (marked ``fuzz``): thousands of random examples per test, failures saved in the
  example database ``tests/fuzz/corpus/`` and replayed first on the next run (Hypothesis,
  "The Hypothesis example database").

Explicit regression inputs are ``@example``s next to each property: they run in both budgets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

__all__ = ["Budget", "budgets"]

CORPUS = Path(__file__).parent / "corpus"
LONG_EXAMPLES = int(os.environ.get("OTELFUSE_FUZZ_EXAMPLES", "5000"))
"""Examples per test in the long run (``OTELFUSE_FUZZ_EXAMPLES`` overrides)."""

_COMMON = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@dataclass(frozen=True)
class Budget:
    """How hard one fuzz test run tries."""

    name: str
    settings: settings


BOUNDED = Budget("bounded", settings(_COMMON, max_examples=40, derandomize=True, database=None))
LONG = Budget(
    "long",
    settings(
        _COMMON,
        max_examples=LONG_EXAMPLES,
        database=DirectoryBasedExampleDatabase(str(CORPUS)),
    ),
)

budgets = pytest.mark.parametrize(
    "budget",
    [pytest.param(BOUNDED, id="bounded"), pytest.param(LONG, id="long", marks=pytest.mark.fuzz)],
)
"""Runs a test once per budget (the long one only with ``-m fuzz``)."""
