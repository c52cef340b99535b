"""What every read resource of the Langfuse API shares: the read model and the key store."""

from __future__ import annotations

from starlette.requests import Request

from ingest.http.auth import authenticate
from storage.auth import KeyStore, Project
from storage.query.repository import Repository

__all__ = ["ReadResource"]


class ReadResource:
    """Routes reading ``repo`` for the project of the caller's key (``keys``)."""

    def __init__(self, repo: Repository, keys: KeyStore) -> None:
        self.repo = repo
        self.keys = keys

    async def project(self, request: Request) -> Project:
        """The caller's project.

        Raises:
            Unauthenticated, HTTPError: as ``ingest.http.auth.authenticate``.
        """
        return await authenticate(self.keys, request)
