"""Request headers the Langfuse SDKs send."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["langfuse_header"]


def langfuse_header(request: Request, name: str) -> str:
    """The header ``name`` (``x-langfuse-sdk-name``...) in its hyphen or underscore form, as
    Langfuse's ingestion reads it (docs/reference/langfuse.md §1.1); ``""`` when absent."""
    return request.headers.get(name) or request.headers.get(name.replace("-", "_"), "")
