"""The embedded ClickHouse (chdb) of the test session: its database name.

chdb allows a single data path per process (docs/reference/test-services.md §2(a)), so every test
that needs it shares the session fixture ``client`` (``tests/conftest.py``) and isolates itself
with a fresh project id.
"""

DATABASE = "otelfuse"
