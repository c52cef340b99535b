"""The embedded ClickHouse (chdb) of the test session: its database name, and the strings every
ClickHouse client must round-trip.

chdb allows a single data path per process (docs/reference/test-services.md §2(a)), so every test
that needs it shares the session fixture ``client`` (``tests/conftest.py``) and isolates itself
with a fresh project id.
"""

DATABASE = "otelfuse"


TRICKY = [
    "o'k",
    "back\\slash",
    "tab\there",
    "new\nline",
    "cr\rx",
    "nul\0x",
    "ünïcødé 😀",
    "{x:String}",
    "'; DROP TABLE otelfuse.traces; --",
    "\\'",
    "",
]
"""Strings that break naive quoting or parameter formatting (quotes, backslashes, control
characters, NUL, placeholders, SQL); every client must round-trip them."""
