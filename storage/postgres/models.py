"""``models``, ``pricing_tiers`` and ``prices``: custom model definitions
(docs/reference/langfuse.md §4.1).

A definition belongs to a project or, with ``project_id`` NULL, to every project (global).
Writes replace a definition's tiers and prices in one transaction. Matching
(``match_candidates``) is evaluated by PostgreSQL like Langfuse's ``modelMatch.ts``:
``model ~ match_pattern`` over the project's and the global definitions, project ones first,
then newest ``start_date`` (NULL last); the caller picks by observation time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

import asyncpg

from storage.errors import Conflict, NotFound
from storage.postgres.model_defs import (
    MODEL_ID,
    InvalidModelDefinition,
    ModelDefinition,
    StoredModel,
    StoredTier,
)
from storage.postgres.pool import PgConnection, PgPool, postgres_errors

__all__ = ["ModelConflict", "ModelRepository", "ProjectMissing"]

DeleteOutcome = Literal["deleted", "global", "missing"]


class ModelConflict(Conflict):
    """Another definition has the same (project, modelName, startDate, unit) or id."""


class ProjectMissing(NotFound):
    """The project of a new definition does not exist."""


_MODEL_COLUMNS = (
    "m.id, m.project_id, m.model_name, m.match_pattern, m.start_date, m.unit, m.tokenizer_id,"
    " m.tokenizer_config, m.created_at, m.updated_at"
)


class ModelRepository:
    """Reads, writes and matches model definitions."""

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    # -- writes -------------------------------------------------------------------------------

    async def create(self, project_id: str | None, definition: ModelDefinition) -> StoredModel:
        """Insert a new definition (``POST /api/public/models``).

        Raises:
            InvalidModelDefinition: ``match_pattern`` is not a valid PostgreSQL regex.
            ModelConflict: the same (project, name, start date, unit) or id exists.
            ProjectMissing: no such project.
        """
        await self._check_pattern(definition.match_pattern)
        with postgres_errors("creating a model"):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    model_id = await self._insert(conn, project_id, definition)
            except asyncpg.UniqueViolationError:
                raise ModelConflict(_conflict_message(definition)) from None
            except asyncpg.ForeignKeyViolationError:
                raise ProjectMissing(f"project {project_id} does not exist") from None
            except asyncpg.DataError as exc:  # a value PostgreSQL cannot store
                raise InvalidModelDefinition(f"value refused by PostgreSQL: {exc}") from None
        found = await self.get(model_id, project_id)
        assert found is not None
        return found

    async def upsert(
        self, project_id: str | None, definition: ModelDefinition
    ) -> tuple[StoredModel, bool]:
        """Create, or replace in place, the definition with the same id (when given) or else
        the same (project, name, start date, unit). Returns ``(model, created)``.

        Raises:
            InvalidModelDefinition: ``match_pattern`` is not a valid PostgreSQL regex.
            ModelConflict: the id belongs to another project, or the new identity is taken.
            ProjectMissing: no such project.
        """
        await self._check_pattern(definition.match_pattern)
        with postgres_errors("upserting a model"):
            for attempt in range(2):
                try:
                    async with self._pool.acquire() as conn, conn.transaction():
                        model_id, created = await self._upsert(conn, project_id, definition)
                    break
                except asyncpg.UniqueViolationError:
                    if attempt:  # lost a race twice, or the new identity is taken
                        raise ModelConflict(_conflict_message(definition)) from None
                except asyncpg.ForeignKeyViolationError:
                    raise ProjectMissing(f"project {project_id} does not exist") from None
                except asyncpg.DataError as exc:  # a value PostgreSQL cannot store
                    raise InvalidModelDefinition(f"value refused by PostgreSQL: {exc}") from None
        found = await self.get(model_id, project_id)
        assert found is not None
        return found, created

    async def _upsert(
        self, conn: PgConnection, project_id: str | None, definition: ModelDefinition
    ) -> tuple[str, bool]:
        if definition.id is not None:
            existing = await conn.fetchrow(
                "SELECT id, project_id FROM models WHERE id = $1 FOR UPDATE", definition.id
            )
            if existing is not None and existing["project_id"] != project_id:
                raise ModelConflict(f"model id {definition.id} is already in use")
        else:
            existing = await conn.fetchrow(
                "SELECT id, project_id FROM models WHERE COALESCE(project_id, '') = $1"
                " AND model_name = $2 AND unit = $4"
                " AND COALESCE(start_date, '-infinity'::timestamptz)"
                "     = COALESCE($3::timestamptz, '-infinity'::timestamptz)"
                " FOR UPDATE",
                project_id or "",
                definition.model_name,
                definition.start_date,
                definition.unit,
            )
        if existing is None:
            return await self._insert(conn, project_id, definition), True
        model_id: str = existing["id"]
        await conn.execute(
            "UPDATE models SET model_name = $2, match_pattern = $3, start_date = $4, unit = $5,"
            " tokenizer_id = $6, tokenizer_config = $7, updated_at = now() WHERE id = $1",
            model_id,
            definition.model_name,
            definition.match_pattern,
            definition.start_date,
            definition.unit,
            definition.tokenizer_id,
            definition.tokenizer_config,
        )
        await conn.execute("DELETE FROM pricing_tiers WHERE model_id = $1", model_id)
        await self._insert_tiers(conn, model_id, definition)
        return model_id, False

    async def _insert(
        self, conn: PgConnection, project_id: str | None, definition: ModelDefinition
    ) -> str:
        model_id = definition.id or uuid.uuid4().hex
        await conn.execute(
            "INSERT INTO models (id, project_id, model_name, match_pattern, start_date, unit,"
            " tokenizer_id, tokenizer_config) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            model_id,
            project_id,
            definition.model_name,
            definition.match_pattern,
            definition.start_date,
            definition.unit,
            definition.tokenizer_id,
            definition.tokenizer_config,
        )
        await self._insert_tiers(conn, model_id, definition)
        return model_id

    @staticmethod
    async def _insert_tiers(conn: PgConnection, model_id: str, definition: ModelDefinition) -> None:
        prices: list[tuple[str, str, str, str, Decimal]] = []
        for tier in definition.tiers:
            tier_id = uuid.uuid4().hex
            await conn.execute(
                "INSERT INTO pricing_tiers (id, model_id, name, is_default, priority, conditions)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                tier_id,
                model_id,
                tier.name,
                tier.is_default,
                tier.priority,
                list(tier.conditions),
            )
            prices += [
                (uuid.uuid4().hex, model_id, tier_id, key, price)
                for key, price in tier.prices.items()
            ]
        if prices:
            await conn.executemany(
                "INSERT INTO prices (id, model_id, pricing_tier_id, usage_type, price)"
                " VALUES ($1, $2, $3, $4, $5)",
                prices,
            )

    async def _check_pattern(self, pattern: str) -> None:
        with postgres_errors("checking a match pattern"):
            try:
                await self._pool.fetchval("SELECT '' ~ $1", pattern)
            except asyncpg.InvalidRegularExpressionError as exc:
                raise InvalidModelDefinition(
                    f"matchPattern is not a valid PostgreSQL regular expression: {exc}"
                ) from None

    async def delete(self, model_id: str, project_id: str | None) -> DeleteOutcome:
        """Delete a definition of ``project_id`` (None: any definition, for the admin CLI).

        Returns ``deleted``; ``global`` when ``project_id`` is set and the id is a global
        definition (not deletable through a project); ``missing`` otherwise.
        """
        if not MODEL_ID.match(model_id):
            return "missing"
        with postgres_errors("deleting a model"):
            if project_id is None:
                status = await self._pool.execute("DELETE FROM models WHERE id = $1", model_id)
            else:
                status = await self._pool.execute(
                    "DELETE FROM models WHERE id = $1 AND project_id = $2", model_id, project_id
                )
            if status.endswith(" 1"):
                return "deleted"
            if project_id is not None and await self._pool.fetchval(
                "SELECT 1 FROM models WHERE id = $1 AND project_id IS NULL", model_id
            ):
                return "global"
        return "missing"

    # -- reads --------------------------------------------------------------------------------

    async def get(self, model_id: str, project_id: str | None) -> StoredModel | None:
        """The definition if it is ``project_id``'s or global (``project_id`` None: global or
        any, for the admin CLI)."""
        if not MODEL_ID.match(model_id):
            return None
        with postgres_errors("reading a model"):
            async with self._pool.acquire() as conn:
                record = await conn.fetchrow(
                    f"SELECT {_MODEL_COLUMNS} FROM models m WHERE m.id = $1"
                    " AND ($2::text IS NULL OR m.project_id = $2 OR m.project_id IS NULL)",
                    model_id,
                    project_id,
                )
                if record is None:
                    return None
                return (await _with_tiers(conn, [record]))[0]

    async def list_visible(
        self, project_id: str | None, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[StoredModel], int]:
        """The project's definitions then the global ones (``project_id`` None: global only),
        ordered by name and newest start date; returns ``(page, total)``."""
        scope = (
            "(m.project_id = $1 OR m.project_id IS NULL)"
            if project_id
            else ("($1::text IS NULL AND m.project_id IS NULL)")
        )
        with postgres_errors("listing models"):
            async with self._pool.acquire() as conn:
                total = await conn.fetchval(
                    f"SELECT count(*) FROM models m WHERE {scope}", project_id
                )
                records = await conn.fetch(
                    f"SELECT {_MODEL_COLUMNS} FROM models m WHERE {scope}"
                    " ORDER BY m.project_id NULLS LAST, m.model_name,"
                    " m.start_date DESC NULLS LAST, m.id LIMIT $2 OFFSET $3",
                    project_id,
                    limit,
                    offset,
                )
                return await _with_tiers(conn, records), int(total or 0)

    async def match_candidates(
        self, queries: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[StoredModel]]:
        """For each ``(project_id, model name)``: the definitions whose ``match_pattern``
        matches, the project's first, then by ``start_date`` newest first (NULL last).
        Two queries for the whole batch."""
        wanted = sorted(set(queries))
        found: dict[tuple[str, str], list[StoredModel]] = {q: [] for q in wanted}
        if not wanted:
            return found
        with postgres_errors("matching models"):
            async with self._pool.acquire() as conn:
                records = await conn.fetch(
                    f"SELECT q.project_id AS q_project, q.model_name AS q_model, {_MODEL_COLUMNS}"
                    " FROM unnest($1::text[], $2::text[]) AS q(project_id, model_name)"
                    " JOIN models m ON (m.project_id = q.project_id OR m.project_id IS NULL)"
                    " AND regex_matches(q.model_name, m.match_pattern)"
                    " ORDER BY q.project_id, q.model_name, m.project_id NULLS LAST,"
                    " m.start_date DESC NULLS LAST, m.id",
                    [p for p, _ in wanted],
                    [m for _, m in wanted],
                )
                models = await _with_tiers(conn, records)
        for record, model in zip(records, models, strict=True):
            found[(record["q_project"], record["q_model"])].append(model)
        return found


async def _with_tiers(conn: PgConnection, records: Sequence[asyncpg.Record]) -> list[StoredModel]:
    ids = sorted({r["id"] for r in records})
    tiers: dict[str, list[StoredTier]] = {model_id: [] for model_id in ids}
    if ids:
        rows = await conn.fetch(
            "SELECT t.id, t.model_id, t.name, t.is_default, t.priority, t.conditions,"
            " COALESCE(jsonb_object_agg(p.usage_type, p.price::text)"
            "          FILTER (WHERE p.id IS NOT NULL), '{}'::jsonb) AS prices"
            " FROM pricing_tiers t LEFT JOIN prices p ON p.pricing_tier_id = t.id"
            " WHERE t.model_id = ANY($1::text[]) GROUP BY t.id ORDER BY t.priority",
            ids,
        )
        for row in rows:
            conditions = row["conditions"] if isinstance(row["conditions"], list) else []
            tiers[row["model_id"]].append(
                StoredTier(
                    id=row["id"],
                    name=row["name"],
                    is_default=row["is_default"],
                    priority=row["priority"],
                    conditions=tuple(c for c in conditions if isinstance(c, dict)),
                    prices={k: Decimal(v) for k, v in row["prices"].items()},
                )
            )
    return [
        StoredModel(
            id=r["id"],
            project_id=r["project_id"],
            model_name=r["model_name"],
            match_pattern=r["match_pattern"],
            start_date=r["start_date"],
            unit=r["unit"],
            tokenizer_id=r["tokenizer_id"],
            tokenizer_config=r["tokenizer_config"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            tiers=tuple(tiers[r["id"]]),
        )
        for r in records
    ]


def _conflict_message(definition: ModelDefinition) -> str:
    start = definition.start_date.isoformat() if definition.start_date else "no start date"
    return (
        f"a model definition {definition.model_name!r} with {start} and unit "
        f"{definition.unit} (or id {definition.id}) already exists"
    )
