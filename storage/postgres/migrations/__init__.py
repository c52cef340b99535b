"""Numbered PostgreSQL migrations (``NNNN_name.sql``), applied by ``storage.postgres.migrate``.

A package (not a bare folder) so the ``.sql`` files ship as package data in wheels.
"""
