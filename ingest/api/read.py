"""The read side of the Langfuse API as one route list, served by the query role, the
all-in-one process and ``otelfuse processor --query``."""

from __future__ import annotations

from starlette.routing import BaseRoute

from ingest.api import projects
from ingest.api.metrics import Metrics
from ingest.api.models import Models
from ingest.api.observations import Observations
from ingest.api.prompts import Prompts
from ingest.api.scores import ScoreReads
from ingest.api.sessions import Sessions
from ingest.api.traces import Traces
from storage.auth import KeyStore
from storage.blobs.claim_check import FieldResolver
from storage.postgres.runtime import PostgresRuntime
from storage.query.deletion import TraceDeletion
from storage.query.repository import Repository
from storage.query.scores.repository import ScoreRepository

__all__ = ["read_routes"]


def read_routes(
    repo: Repository,
    keys: KeyStore,
    *,
    max_request_bytes: int,
    postgres: PostgresRuntime | None = None,
    fields: FieldResolver | None = None,
    delete_traces: TraceDeletion | None = None,
) -> list[BaseRoute]:
    """Projects, traces, observations, sessions, metrics and score reads over ClickHouse
    (``repo``), plus ``/api/public/models`` and ``/api/public/v2/prompts`` with ``postgres``
    (deleting a trace then also removes its media links). ``max_request_bytes`` bounds the
    bodies these routes read (``DELETE /traces``, models, prompts). With ``fields``, trace and
    observation reads return offloaded fields in full and deleting a trace deletes its
    offloaded fields (``storage.blobs.claim_check``). ``delete_traces``: see ``Traces``."""
    routes: list[BaseRoute] = [
        *projects.routes(keys),
        *Traces(
            repo,
            keys,
            max_request_bytes,
            postgres.media if postgres else None,
            fields=fields,
            delete_traces=delete_traces,
        ).routes(),
        *Observations(repo, keys, fields=fields).routes(),
        *Sessions(repo, keys).routes(),
        *Metrics(repo, keys).routes(),
        *ScoreReads(ScoreRepository(repo.client, repo.database), keys).routes(),
    ]
    if postgres is not None:
        routes += Models(postgres.models, keys).routes()
        routes += Prompts(postgres.prompts, keys, max_request_bytes).routes()
    return routes
