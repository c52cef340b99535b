"""Client programs run as subprocesses by the end-to-end tests, so that each real SDK and
instrumentation gets a fresh interpreter (they patch global state)."""
