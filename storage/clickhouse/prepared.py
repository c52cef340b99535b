"""``PreparedInsert``: an INSERT whose data is already encoded, run later (maybe in another thread).

``Client.prepare_columns`` and ``Client.prepare_protobuf`` return one, so the batch writer can
overlap ClickHouse's work (outside the GIL on embedded chdb) with Python work in another thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["PreparedInsert", "Starting"]

Starting = Callable[[], None] | None
"""Called right before an insert hands over to ClickHouse (which runs outside the GIL)."""


class PreparedInsert:
    """An INSERT whose data is encoded (``Client.prepare_*``): ``run`` sends it with almost no
    Python work left, so a caller can overlap it with work in another thread.

    Args:
        run: sends the insert; called with ``starting`` (see ``run``).
        data_file: scratch file holding the encoded data, deleted by ``discard`` (or None).

    Call ``run`` at most once; ``discard`` (also after ``run``; idempotent) releases the data
    when ``run`` is not called.
    """

    def __init__(self, run: Callable[[Starting], None], data_file: Path | None = None) -> None:
        self._run: Callable[[Starting], None] | None = run
        self._data_file = data_file

    @classmethod
    def empty(cls) -> PreparedInsert:
        """An insert of no rows: ``run`` only calls ``starting``."""
        return cls(_nothing)

    def run(self, starting: Starting = None) -> None:
        """Run the INSERT (once); ``starting()`` is called right before ClickHouse gets it
        (also when there is nothing to insert).

        Raises:
            PermanentError, RetryableError: as ``Client.insert_rows``.
            RuntimeError: ``run`` was already called.
        """
        run, self._run = self._run, None
        if run is None:
            raise RuntimeError("a prepared insert runs once")
        try:
            run(starting)
        finally:
            self.discard()

    def discard(self) -> None:
        """Delete the prepared data (idempotent)."""
        self._run = None
        if self._data_file is not None:
            self._data_file.unlink(missing_ok=True)
            self._data_file = None


def _nothing(starting: Starting) -> None:
    if starting is not None:
        starting()
