"""ServerClient against a real ClickHouse server (Debian's 18.16 over the native protocol).

18.16 has no DateTime64, Map, Bool or query parameters, so these tests use a reduced table
(DateTime, Decimal(18,12), Nullable(String), Array(String), ReplacingMergeTree); the real schema
and the repository's SQL are tested on chdb. What is tested here is the transport: URL settings,
client-side parameter rendering with hostile values, columnar inserts, value conversions, FINAL,
threads, migrations and the error mapping of a real server.
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import tests.support.clickhouse_server as support
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.server import ServerClient
from storage.errors import PermanentError, RetryableError
from tests.support.chdb import TRICKY
from tests.support.clickhouse_server import ClickHouseServer, start_clickhouse

pytestmark = pytest.mark.service  # starts external processes (make test-fast skips it)

BASE_US = 1_763_770_000_000_000  # 2025-11-22 00:06:40 UTC
HOSTILE = [*TRICKY, "%s", "%(p)s", "100%", "a'b\"c`d", "\\x00", "line1\r\nline2", "\x01\x07\x1b"]


@pytest.fixture
def db(server_client: ServerClient) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    server_client.command(f"CREATE DATABASE {name}")
    yield name
    server_client.command(f"DROP DATABASE IF EXISTS {name}")


def create_events(client: ServerClient, db: str) -> str:
    table = f"{db}.events"
    client.command(
        f"CREATE TABLE {table} (id String, project_id String, ts DateTime,"
        " cost Decimal(18, 12), note Nullable(String), tags Array(String), version UInt64,"
        " flag UInt8) ENGINE = ReplacingMergeTree(version)"
        " PARTITION BY toYYYYMM(ts) ORDER BY (project_id, id)"
    )
    return table


COLUMNS = ("id", "project_id", "ts", "cost", "note", "tags", "version", "flag")


def event(n: int, version: int = 1) -> tuple[object, ...]:
    return (
        f"id-{n:05d}",
        "proj",
        BASE_US + n * 1_000_123,  # µs; the DateTime column keeps whole seconds
        f"{n}.000000000001" if n % 2 else Decimal(n) / 8,
        None if n % 3 == 0 else HOSTILE[n % len(HOSTILE)],
        [f"t{n % 5}", HOSTILE[n % len(HOSTILE)]],
        version,
        n % 2 == 0,
    )


def test_url_database_and_version(clickhouse_server: ClickHouseServer) -> None:
    client = ServerClient(clickhouse_server.url + "otelfuse?connect_timeout=2&max_threads=2")
    try:
        assert client.database == "otelfuse"  # not selected on connect: it need not exist yet
        rows = client.select(
            "SELECT version() AS v,"
            " (SELECT value FROM system.settings WHERE name = 'max_threads') AS t"
        )
        assert rows[0]["v"].startswith("18.16")
        assert rows[0]["t"] == "2"  # unknown URL keys are sent as ClickHouse settings
    finally:
        client.close()


def test_columnar_insert_select_and_final(server_client: ServerClient, db: str) -> None:
    table = create_events(server_client, db)
    rows = [event(n) for n in range(10_000)]
    server_client.insert_rows(table, COLUMNS, rows)
    server_client.insert_rows(table, COLUMNS, [])  # no-op

    got = server_client.select(
        f"SELECT id, toUnixTimestamp(ts) AS ts, toString(cost) AS cost, note, tags, version,"
        f" flag FROM {table} WHERE project_id = {{p:String}} AND has({{ids:Array(String)}}, id)"
        " ORDER BY id",
        {"p": "proj", "ids": [r[0] for r in rows[:300]]},
    )
    assert len(got) == 300
    for row, expected in zip(got, rows, strict=False):
        assert row["id"] == expected[0]
        assert row["ts"] == expected[2] // 1_000_000  # type: ignore[operator]
        assert Decimal(row["cost"]) == Decimal(str(expected[3]))
        assert row["note"] == expected[4]
        assert row["tags"] == expected[5]
        assert row["flag"] == int(bool(expected[7]))

    # redelivery with a higher version: FINAL keeps one row per key, the newest
    server_client.insert_rows(
        table, COLUMNS, [(*event(n, version=2)[:4], "updated", ["u"], 2, 1) for n in range(100)]
    )
    counts = server_client.select(
        f"SELECT (SELECT count() FROM {table}) AS raw, (SELECT count() FROM {table} FINAL) AS final"
    )
    assert counts == [{"raw": 10_100, "final": 10_000}]
    updated = server_client.select(
        f"SELECT count() AS n FROM {table} FINAL WHERE note = {{note:String}} AND version = 2",
        {"note": "updated"},
    )
    assert updated == [{"n": 100}]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameters_round_trip(server_client: ServerClient, value: str) -> None:
    rows = server_client.select(
        "SELECT {s:String} AS s, {a:Array(String)} AS a, length({s:String}) AS n,"
        " 'literal {s:String} 100%' AS lit",
        {"s": value, "a": [value, "x"]},
    )
    assert rows == [
        {"s": value, "a": [value, "x"], "n": len(value.encode()), "lit": "literal {s:String} 100%"}
    ]


def test_hostile_values_stored_and_matched(server_client: ServerClient, db: str) -> None:
    table = create_events(server_client, db)
    rows = [(*event(n)[:4], value, [value], 1, 0) for n, value in enumerate(HOSTILE)]
    server_client.insert_rows(table, COLUMNS, rows)
    for n, value in enumerate(HOSTILE):
        found = server_client.select(
            f"SELECT id, note, tags FROM {table}"
            " WHERE note = {v:String} AND has(tags, {v:String})",
            {"v": value},
        )
        assert found == [{"id": f"id-{n:05d}", "note": value, "tags": [value]}]


def test_parameter_types(server_client: ServerClient) -> None:
    rows = server_client.select(
        "SELECT {i:Int64} AS i, {u:UInt64} AS u, {f:Float64} AS f, {b:UInt8} AS b,"
        " toString({d:Decimal(18, 12)}) AS d, {e:Array(String)} AS e, {n:Nullable(String)} AS n,"
        " toUnixTimestamp({t:DateTime}) AS t, {tuple_as_array:Array(UInt32)} AS arr",
        {
            "i": -5,
            "u": 2**64 - 1,
            "f": 1.25,
            "b": True,
            "d": Decimal("0.000000000001"),
            "e": [],
            "n": None,
            "t": "2025-11-22 00:06:40",
            "tuple_as_array": (1, 2),
        },
    )
    assert rows == [
        {
            "i": -5,
            "u": 2**64 - 1,
            "f": 1.25,
            "b": 1,
            "d": "0.000000000001",
            "e": [],
            "n": None,
            "t": 1_763_770_000,
            "arr": [1, 2],
        }
    ]


def test_select_values_are_json_typed(server_client: ServerClient) -> None:
    rows = server_client.select(
        "SELECT toDateTime(1763770000, 'UTC') AS t, toDate('2020-01-02') AS d,"
        " toDecimal64('1.5', 12) AS dec, (1, 'x') AS tup, [toDecimal32('0.25', 2)] AS arr,"
        " [(1, toDate('2020-01-03'))] AS nested,"
        " toUUID('00000000-0000-0000-0000-000000000001') AS u"
    )
    assert rows == [
        {
            "t": "2025-11-22 00:06:40",
            "d": "2020-01-02",
            "dec": 1.5,
            "tup": [1, "x"],
            "arr": [0.25],
            "nested": [[1, "2020-01-03"]],
            "u": "00000000-0000-0000-0000-000000000001",
        }
    ]


def test_insert_value_conversions(server_client: ServerClient, db: str) -> None:
    table = f"{db}.conv"
    server_client.command(
        f"CREATE TABLE {table} (k UInt32, t DateTime, tn Nullable(DateTime), ta Array(DateTime),"
        " d Date, m Decimal(18, 12)) ENGINE = MergeTree ORDER BY k"
    )
    aware = datetime(2025, 11, 22, 1, 0, 0, 999_999, tzinfo=UTC)
    server_client.insert_rows(
        table,
        ["k", "t", "tn", "ta", "d", "m"],
        [
            (1, BASE_US + 999_999, None, [BASE_US, BASE_US + 1_000_000], date(2020, 1, 2), 1),
            (2, aware, aware.replace(tzinfo=None), [], date(2020, 1, 3), "0.5"),
        ],
    )
    got = server_client.select(
        f"SELECT k, toUnixTimestamp(t) AS t, toUnixTimestamp(tn) AS tn,"
        f" arrayMap(x -> toUnixTimestamp(x), ta) AS ta, d, toString(m) AS m FROM {table} ORDER BY k"
    )
    assert got == [
        {"k": 1, "t": 1_763_770_000, "tn": None, "ta": [1_763_770_000, 1_763_770_001],
         "d": "2020-01-02", "m": "1.000000000000"},
        {"k": 2, "t": 1_763_773_200, "tn": 1_763_773_200, "ta": [], "d": "2020-01-03",
         "m": "0.500000000000"},
    ]  # fmt: skip


def test_large_rendered_query(server_client: ServerClient) -> None:
    # 30k ids render to ~600 KB of SQL: above the server's default max_query_size (256 KiB)
    ids = [f"{n:016x}'\\" for n in range(30_000)]
    rows = server_client.select(
        "SELECT length({ids:Array(String)}) AS n, has({ids:Array(String)}, {last:String}) AS h",
        {"ids": ids, "last": ids[-1]},
    )
    assert rows == [{"n": 30_000, "h": 1}]


def test_permanent_errors(server_client: ServerClient, db: str) -> None:
    table = create_events(server_client, db)
    with pytest.raises(PermanentError, match="62"):
        server_client.select("SELEC 1")
    with pytest.raises(PermanentError, match="47"):
        server_client.select(f"SELECT no_such_column FROM {table}")
    with pytest.raises(PermanentError, match="no such column"):
        server_client.insert_rows(table, ["id", "nope"], [("a", 1)])
    with pytest.raises(PermanentError, match="row 1 has 3 values"):
        server_client.insert_rows(table, ["id", "project_id"], [("a", "p"), ("b", "p", "x")])
    bad = list(event(1))
    bad[6] = "not a number"  # UInt64 column
    with pytest.raises(PermanentError):
        server_client.insert_rows(table, COLUMNS, [tuple(bad)])
    bad = list(event(1))
    bad[0] = None  # non-Nullable String
    with pytest.raises(PermanentError):
        server_client.insert_rows(table, COLUMNS, [tuple(bad)])
    with pytest.raises(PermanentError, match="was not set"):
        server_client.select("SELECT {x:String} AS x", {})
    with pytest.raises(PermanentError, match="inline data"):
        server_client.command(f"INSERT INTO {table} (id) VALUES ('x')")
    with pytest.raises(PermanentError, match="invalid table name"):
        server_client.insert_rows("x; DROP TABLE y", ["id"], [("a",)])
    # the pooled connections stay usable after every failure
    assert server_client.select("SELECT 1 AS ok") == [{"ok": 1}]
    assert server_client.select(f"SELECT count() AS n FROM {table}") == [{"n": 0}]


def test_generator_rows_are_all_or_nothing(server_client: ServerClient, db: str) -> None:
    table = create_events(server_client, db)
    bad = PermanentError("row builder failed")

    def rows(fail_at: int | None) -> Iterator[tuple[object, ...]]:
        for n in range(1000):
            if n == fail_at:
                raise bad
            yield event(n)

    with pytest.raises(PermanentError) as raised:
        server_client.insert_rows(table, COLUMNS, rows(fail_at=999))
    assert raised.value is bad
    assert server_client.select(f"SELECT count() AS n FROM {table}") == [{"n": 0}]
    server_client.insert_rows(table, COLUMNS, rows(fail_at=None))
    assert server_client.select(f"SELECT count() AS n FROM {table}") == [{"n": 1000}]


def test_missing_table_is_retryable(server_client: ServerClient, db: str) -> None:
    with pytest.raises(RetryableError, match="does not exist"):
        server_client.insert_rows(f"{db}.not_yet", ["id"], [("a",)])
    with pytest.raises(RetryableError, match="81"):
        server_client.select("SELECT * FROM no_such_db.t")


def test_threads_share_the_engine(server_client: ServerClient, db: str) -> None:
    table = create_events(server_client, db)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(20):
                n = worker * 1000 + i
                server_client.insert_rows(table, COLUMNS, [event(n)])
                found = server_client.select(
                    f"SELECT id FROM {table} WHERE id = {{id:String}}", {"id": f"id-{n:05d}"}
                )
                assert found == [{"id": f"id-{n:05d}"}]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert server_client.select(f"SELECT count() AS n FROM {table}") == [{"n": 160}]


def test_migrations_run_on_the_server(server_client: ServerClient, tmp_path: Path) -> None:
    database = f"mig_{uuid.uuid4().hex[:8]}"
    (tmp_path / "0001_first.sql").write_text(
        "CREATE TABLE IF NOT EXISTS {database}.a (id String, v UInt64)"
        " ENGINE = ReplacingMergeTree(v) ORDER BY id;\n"
        "CREATE TABLE IF NOT EXISTS {database}.b (id String) ENGINE = MergeTree ORDER BY id;\n"
    )
    try:
        assert apply_migrations(server_client, database, directory=tmp_path) == ["0001_first"]
        (tmp_path / "0002_second.sql").write_text(  # 18.16 has no ADD COLUMN IF NOT EXISTS
            "ALTER TABLE {database}.a ADD COLUMN note Nullable(String)\n"
        )
        assert apply_migrations(server_client, database, directory=tmp_path) == ["0002_second"]
        assert apply_migrations(server_client, database, directory=tmp_path) == []
        recorded = server_client.select(
            f"SELECT version, name FROM {database}.schema_migrations FINAL ORDER BY version"
        )
        assert recorded == [
            {"version": 1, "name": "0001_first"},
            {"version": 2, "name": "0002_second"},
        ]
        # the column a migration added is seen by the insert path (type cache refresh)
        server_client.insert_rows(f"{database}.a", ["id", "v", "note"], [("x", 1, None)])
    finally:
        server_client.command(f"DROP DATABASE IF EXISTS {database}")


def test_real_schema_is_rejected_by_18_16(server_client: ServerClient) -> None:
    # documents why the schema itself is tested on chdb only
    with pytest.raises(PermanentError, match="DateTime64"):
        server_client.command(
            "CREATE TABLE IF NOT EXISTS default.dt64 (t DateTime64(6)) ENGINE = Memory"
        )


def test_server_stopped_is_retryable_then_recovers(tmp_path: Path) -> None:
    server = start_clickhouse(tmp_path)  # its own server: this test stops it
    client = ServerClient(server.url + "?connect_timeout=2&send_receive_timeout=5")
    try:
        client.command("CREATE TABLE default.k (id String) ENGINE = MergeTree ORDER BY id")
        client.insert_rows("default.k", ["id"], [("before",)])
        server.stop(signal.SIGKILL)  # SIGTERM waits ~10 s for the pooled connection to go
        with pytest.raises(RetryableError, match="210"):
            client.select("SELECT 1 AS ok")
        with pytest.raises(RetryableError):
            client.insert_rows("default.k", ["id"], [("during",)])
        server.start()
        client.insert_rows("default.k", ["id"], [("after",)])  # reconnects by itself
        assert client.select("SELECT id FROM default.k ORDER BY id") == [
            {"id": "after"},
            {"id": "before"},
        ]
    finally:
        client.close()
        server.stop()
    with pytest.raises(RetryableError, match="closed"):
        client.select("SELECT 1")


def test_missing_server_without_apt_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(support, "SERVER_BIN", tmp_path / "no-clickhouse-server")
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get is unavailable; install it with"):
        support.ensure_installed()
