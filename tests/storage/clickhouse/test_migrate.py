"""Forward-only migrations: ordering, idempotency, recorded versions, resulting schema."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.migrate import apply_migrations, load_migrations, split_statements
from storage.errors import PermanentError
from tests.support.chdb import DATABASE
from tests.support.fakes import DelegatingClient


def test_files_are_numbered_and_ordered() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == [1, 2, 3, 4, 5, 6]
    assert [m.name for m in migrations] == [
        "0001_create_observations",
        "0002_create_traces",
        "0003_create_scores",
        "0004_observations_is_app_root",
        "0005_create_log_io",
        "0006_compact_insert_parts",
    ]


def test_apply_is_idempotent(client: ChdbClient) -> None:
    # the session fixture already applied everything
    assert apply_migrations(client, DATABASE) == []
    assert apply_migrations(client, DATABASE) == []
    rows = client.select(
        f"SELECT version, name FROM {DATABASE}.schema_migrations FINAL ORDER BY version"
    )
    assert rows == [
        {"version": 1, "name": "0001_create_observations"},
        {"version": 2, "name": "0002_create_traces"},
        {"version": 3, "name": "0003_create_scores"},
        {"version": 4, "name": "0004_observations_is_app_root"},
        {"version": 5, "name": "0005_create_log_io"},
        {"version": 6, "name": "0006_compact_insert_parts"},
    ]


def test_inserted_parts_up_to_128_mib_are_compact(client: ChdbClient) -> None:
    # An insert of ~12 MiB: above ClickHouse's default min_bytes_for_wide_part (10 MiB), so it
    # would be a Wide part without migration 0006.
    for table in ("observations", "traces"):
        settings = client.select(
            "SELECT engine_full FROM system.tables WHERE database = {d:String}"
            " AND name = {t:String}",
            {"d": DATABASE, "t": table},
        )
        assert "min_bytes_for_wide_part = 134217728" in settings[0]["engine_full"]
    client.command(f"CREATE TABLE {DATABASE}.wide_probe AS {DATABASE}.observations")
    try:
        client.command(
            f"INSERT INTO {DATABASE}.wide_probe (id, trace_id, project_id, start_time, input,"
            " event_ts) SELECT toString(number), 't', 'p', now64(6), randomPrintableASCII(3000),"
            " now64(6) FROM numbers(4000)"
        )
        parts = client.select(
            "SELECT part_type, bytes_on_disk, data_uncompressed_bytes FROM system.parts"
            " WHERE database = {d:String} AND table = 'wide_probe' AND active",
            {"d": DATABASE},
        )
        assert len(parts) == 1
        assert int(parts[0]["data_uncompressed_bytes"]) > 10 * 1024 * 1024
        assert parts[0]["part_type"] == "Compact"
    finally:
        client.command(f"DROP TABLE IF EXISTS {DATABASE}.wide_probe")


def test_fresh_database_then_new_file_applies_only_the_new_one(
    client: ChdbClient, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_first.sql").write_text(
        "-- two statements; the comment is skipped\n"
        "CREATE TABLE IF NOT EXISTS {database}.a (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
        "CREATE TABLE IF NOT EXISTS {database}.b (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
    )
    assert apply_migrations(client, "mig_test", directory=folder) == ["0001_first"]
    (folder / "0002_second.sql").write_text(
        "ALTER TABLE {database}.a ADD COLUMN IF NOT EXISTS y String\n"
    )
    assert apply_migrations(client, "mig_test", directory=folder) == ["0002_second"]
    assert apply_migrations(client, "mig_test", directory=folder) == []
    columns = client.select(
        "SELECT name FROM system.columns WHERE database = 'mig_test' AND table = 'a' ORDER BY name"
    )
    assert [c["name"] for c in columns] == ["x", "y"]


def test_bad_names_are_rejected(client: ChdbClient, tmp_path: Path) -> None:
    with pytest.raises(PermanentError):
        apply_migrations(client, "bad-name; DROP")
    (tmp_path / "1_x.sql").write_text("SELECT 1")
    with pytest.raises(PermanentError, match="NNNN_name"):
        load_migrations(tmp_path)


def test_split_statements() -> None:
    sql = "-- header;\nCREATE TABLE a (s String DEFAULT ';');\n\n-- only a comment\nSELECT 1;  \n"
    # a ";" ends a statement only at a line end (even inside a comment); comment-only chunks go
    assert split_statements(sql) == [
        "CREATE TABLE a (s String DEFAULT ';')",
        "-- only a comment\nSELECT 1",
    ]


def test_schema_keys(client: ChdbClient) -> None:
    rows = client.select(
        "SELECT name, engine_full, sorting_key, partition_key FROM system.tables"
        " WHERE database = {db:String} AND name IN ('observations', 'traces', 'scores')"
        " ORDER BY name",
        {"db": DATABASE},
    )
    keys = {r["name"]: (r["sorting_key"], r["partition_key"]) for r in rows}
    assert keys == {
        "observations": ("project_id, toDate(start_time), trace_id, id", "toYYYYMM(start_time)"),
        "scores": ("project_id, toDate(timestamp), name, id", "toYYYYMM(timestamp)"),
        "traces": ("project_id, id", "toYYYYMM(created_at)"),
    }
    for r in rows:
        assert "ReplacingMergeTree(event_ts, is_deleted)" in r["engine_full"]
    indexes = client.select(
        "SELECT table, name, type FROM system.data_skipping_indices"
        " WHERE database = {db:String} ORDER BY table, name",
        {"db": DATABASE},
    )
    bloom = {(i["table"], i["name"]) for i in indexes if i["type"] == "bloom_filter"}
    assert {
        ("observations", "idx_id"),
        ("observations", "idx_trace_id"),
        ("observations", "idx_user_id"),
        ("observations", "idx_session_id"),
        ("traces", "idx_user_id"),
        ("traces", "idx_session_id"),
    } <= bloom


class _Commands(DelegatingClient):
    """Records the statements run through ``command``."""

    def __init__(self, client: ChdbClient) -> None:
        super().__init__(client)
        self.statements: list[str] = []

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.statements.append(sql)
        super().command(sql, params)


def _engine_full(client: ChdbClient, table: str) -> str:
    rows = client.select(
        "SELECT engine_full FROM system.tables WHERE database = {d:String} AND name = {t:String}",
        {"d": DATABASE, "t": table},
    )
    return str(rows[0]["engine_full"])


def test_embedded_merges_use_a_merge_selector_base_of_ten(client: ChdbClient) -> None:
    # A data folder migrated before the setting existed: its tables lack it, and the next
    # apply_migrations adds it without touching the other settings (docs/benchmarks.md
    # "ClickHouse merges per row": half the rows rewritten by merges).
    assert client.merge_tree_settings["merge_selector_base"] == 10
    for table in ("observations", "traces"):
        client.command(f"ALTER TABLE {DATABASE}.{table} RESET SETTING merge_selector_base")
        assert "merge_selector_base" not in _engine_full(client, table)
    assert apply_migrations(client, DATABASE) == []
    for table in ("observations", "traces"):
        engine = _engine_full(client, table)
        assert "merge_selector_base = 10" in engine
        assert "min_bytes_for_wide_part = 134217728" in engine  # migration 0006
        assert "concurrent_part_removal_threshold = 1000000000" in engine
    # ClickHouse's own default stays 5: the value is the table's, not the engine's.
    default = client.select(
        "SELECT value FROM system.merge_tree_settings WHERE name = 'merge_selector_base'"
    )
    assert default == [{"value": "5"}]


def test_embedded_tables_get_the_clients_merge_tree_settings(client: ChdbClient) -> None:
    tables = client.select(
        "SELECT name, engine_full FROM system.tables"
        " WHERE database = {db:String} AND engine LIKE '%MergeTree' ORDER BY name",
        {"db": DATABASE},
    )
    assert {t["name"] for t in tables} >= {"observations", "traces", "scores", "log_io"}
    for table in tables:
        for name, value in client.merge_tree_settings.items():
            assert f"{name} = {value}" in table["engine_full"], table

    # A table that lost a setting gets it back; the others are not altered again.
    client.command(f"ALTER TABLE {DATABASE}.scores RESET SETTING concurrent_part_removal_threshold")
    recording = _Commands(client)
    assert apply_migrations(recording, DATABASE) == []
    alters = [s for s in recording.statements if s.startswith("ALTER")]
    assert alters == [
        f"ALTER TABLE {DATABASE}.`scores` MODIFY SETTING"
        " concurrent_part_removal_threshold = 1000000000"
    ]
    recording.statements.clear()
    apply_migrations(recording, DATABASE)
    assert not [s for s in recording.statements if s.startswith("ALTER")]
