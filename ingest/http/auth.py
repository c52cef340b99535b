"""Who is calling: the project of a request's ``Authorization: Basic`` credentials.

Langfuse's public API authenticates every route with Basic auth of the project's key pair
(public key as user, secret key as password; langfuse/langfuse
``web/src/features/public-api/server/apiAuth.ts``). Every read and write is then scoped to the
returned project.
"""

from __future__ import annotations

from starlette.requests import Request

from ingest.errors import HTTPError, retry_after_header
from storage.auth import KeyStore, Project, authenticate_async
from storage.errors import RetryableError

__all__ = ["authenticate"]


async def authenticate(keys: KeyStore, request: Request) -> Project:
    """The project of ``request``'s credentials.

    Raises:
        Unauthenticated: missing or wrong credentials (answered 401).
        HTTPError: 503 + ``Retry-After`` when the key store (PostgreSQL) is unavailable.
    """
    try:
        return await authenticate_async(keys, request.headers.get("authorization"))
    except RetryableError as exc:
        headers = {"Retry-After": retry_after_header(exc.retry_after_s)}
        raise HTTPError(503, "authentication unavailable, retry later", headers) from None
