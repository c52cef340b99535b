"""Numbered ClickHouse migrations (``NNNN_name.sql``), applied by ``storage.clickhouse.migrate``.

A package (not a bare folder) so the ``.sql`` files ship as package data in wheels.
"""
