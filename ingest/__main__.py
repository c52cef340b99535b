"""``python -m ingest`` is the ``otelfuse`` command."""

import sys

from ingest.cli import main

sys.exit(main())
