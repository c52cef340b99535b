"""ClickHouse storage: engine interface, schema migrations and the batch writer.

- ``engine``: ``Engine`` protocol and ``ChdbEngine`` (embedded ClickHouse);
- ``migrate``: forward-only numbered migrations (``migrations/NNNN_*.sql``);
- ``writer``: ``ClickHouseWriter`` (observation rows + merged trace rows).
"""

from storage.clickhouse.engine import ChdbEngine, Engine
from storage.clickhouse.migrate import apply_migrations
from storage.clickhouse.writer import ClickHouseWriter

__all__ = ["ChdbEngine", "ClickHouseWriter", "Engine", "apply_migrations"]
