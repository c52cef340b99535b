"""``python -m ingest`` is the ``otelfuse`` command."""

import sys

from ingest.app.cli import main

sys.exit(main())
