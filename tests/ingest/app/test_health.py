"""Health never waits behind a long ClickHouse statement (#15 item 5: one legal 17 MB export
held the embedded ClickHouse 56 s, and ``/api/public/health`` waited as long)."""

from __future__ import annotations

import asyncio
import threading
import time

from ingest.app.clickhouse import clickhouse_health
from storage.clickhouse.chdb import ChdbClient
from storage.query.repository import Repository
from tests.support.chdb import DATABASE

LONG_QUERY_S = 2.5


def test_health_answers_while_a_statement_holds_the_embedded_clickhouse(
    client: ChdbClient,
) -> None:
    started = threading.Event()

    def long_statement() -> None:
        started.set()
        client.select(f"SELECT sleepEachRow({LONG_QUERY_S / 2}) FROM numbers(2) FORMAT Null")

    worker = threading.Thread(target=long_statement)
    worker.start()
    try:
        started.wait()
        time.sleep(0.2)  # the statement holds the client now
        begin = time.monotonic()
        reason = asyncio.run(clickhouse_health(Repository(client, DATABASE)))
        waited = time.monotonic() - begin
    finally:
        worker.join()
    assert reason is None
    assert waited < 0.5, f"health waited {waited:.1f} s behind the statement"
