"""``ingest.app.service.freeze_started``, in a process of its own (freezing is for good): the
garbage of the start is collected first, what lives on is moved out of the collector's reach."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc, weakref
from ingest.app.service import freeze_started

class Node:
    pass

garbage = Node(); garbage.me = garbage      # a cycle nobody holds
dead = weakref.ref(garbage); del garbage
kept = Node(); kept.me = kept               # a cycle the role keeps
gc.disable()                                 # only freeze_started collects
freeze_started()
assert dead() is None, "the start's garbage was frozen"
assert gc.get_freeze_count() > 1000
assert not any(o is kept for o in gc.get_objects()), "a live object is still tracked"
print("ok")
"""


def test_the_start_garbage_is_collected_and_the_rest_frozen() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
