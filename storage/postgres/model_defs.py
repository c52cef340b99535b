"""Langfuse model-definition JSON: validation on the way in, the ``Model`` shape on the way out.

Input (``POST /api/public/models``, ``otelfuse models upsert --file``;
docs/reference/langfuse.md §4.1, Langfuse's ``CreateModelRequest`` and ``default-model-prices.json``
entries)::

    {"id"?, "modelName", "matchPattern", "startDate"?, "unit"? (TOKENS), "tokenizerId"?,
     "tokenizerConfig"?, "pricingTiers"?: [{"name", "isDefault"?, "priority", "conditions",
     "prices": {usageKey: USD per unit}}]}
    or, instead of pricingTiers, legacy flat prices: "inputPrice"/"outputPrice"/"totalPrice"
    or "prices": {usageKey: price}  -> one default tier "Standard".

Rules (Langfuse's): pricing tiers and flat prices exclude each other; ``totalPrice`` excludes
input/output prices; exactly one default tier, with priority 0 and no conditions; tier names and
priorities unique; each tier has at least one price; prices are non-negative numbers. A model
without any price is allowed (it matches, and its generations get no computed cost).
Conditions are stored in Langfuse's JSONB shapes (see ``processors.pricing.tiers``). The regex
itself (``matchPattern``, a PostgreSQL regex) is checked by PostgreSQL when stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from storage.errors import BadRequest
from storage.postgres.jsonb import unservable_number
from storage.query import schemas

__all__ = [
    "MODEL_ID",
    "UNITS",
    "InvalidModelDefinition",
    "ModelDefinition",
    "StoredModel",
    "StoredTier",
    "TierDefinition",
    "model_json",
    "parse_model_definition",
]

UNITS = ("TOKENS", "CHARACTERS", "MILLISECONDS", "SECONDS", "REQUESTS", "IMAGES")
TOKENIZERS = ("openai", "claude")
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_OPERATORS = ("gt", "gte", "lt", "lte", "eq", "neq")
_SOURCES = ("model_parameters", "metadata")
_MAX_TEXT = 1000
_MAX_PRICE = Decimal(1_000_000)


class InvalidModelDefinition(BadRequest):
    """The JSON is not a valid model definition; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class TierDefinition:
    """A pricing tier to store; ``conditions`` in Langfuse's JSONB shape."""

    name: str
    is_default: bool
    priority: int
    conditions: tuple[dict[str, Any], ...]
    prices: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class ModelDefinition:
    """A validated model definition (``id`` only when the input named one)."""

    model_name: str
    match_pattern: str
    start_date: datetime | None
    unit: str
    tokenizer_id: str | None
    tokenizer_config: Any
    tiers: tuple[TierDefinition, ...]
    id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredTier:
    """A pricing tier as stored."""

    id: str
    name: str
    is_default: bool
    priority: int
    conditions: tuple[Mapping[str, Any], ...]
    prices: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model definition as stored; ``project_id`` None for a global one."""

    id: str
    project_id: str | None
    model_name: str
    match_pattern: str
    start_date: datetime | None
    unit: str
    tokenizer_id: str | None
    tokenizer_config: Any
    created_at: datetime
    updated_at: datetime
    tiers: tuple[StoredTier, ...]


def _text(raw: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise InvalidModelDefinition(f"{key} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidModelDefinition(f"{key} must be a non-empty string")
    if len(value) > _MAX_TEXT or "\x00" in value:
        raise InvalidModelDefinition(f"{key} must be at most {_MAX_TEXT} characters, without NUL")
    return value


def _price(where: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise InvalidModelDefinition(f"{where} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidModelDefinition(f"{where} must be finite")
    try:
        price = Decimal(str(value))  # str(): a float's shortest repr, not its binary expansion
    except InvalidOperation:
        raise InvalidModelDefinition(f"{where} must be a number") from None
    if not price.is_finite() or price < 0 or price >= _MAX_PRICE:
        raise InvalidModelDefinition(f"{where} must be >= 0 and < 1000000 (USD per unit)")
    return price


def _prices(where: str, raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, Mapping):
        raise InvalidModelDefinition(f"{where} must be an object of usage key -> price")
    prices: dict[str, Decimal] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key or len(key) > 200 or "\x00" in key:
            raise InvalidModelDefinition(f"{where} has an invalid usage key")
        if value is None:
            continue
        prices[key] = _price(f"{where}.{key}", value)
    return prices


def _has_nul(value: Any, depth: int = 0) -> bool:
    """NUL anywhere in a JSON value (PostgreSQL text and jsonb refuse it)."""
    if depth > 64:
        return True
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


def _condition(where: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidModelDefinition(f"{where} must be an object")
    if _has_nul(raw):
        raise InvalidModelDefinition(f"{where} must not contain NUL characters")
    if "source" in raw:
        source, key, values = raw.get("source"), raw.get("key"), raw.get("values")
        if source not in _SOURCES:
            raise InvalidModelDefinition(f"{where}.source must be model_parameters or metadata")
        if raw.get("operator", "in") != "in":
            raise InvalidModelDefinition(f"{where}.operator must be 'in'")
        if not isinstance(key, str) or not key:
            raise InvalidModelDefinition(f"{where}.key must be a non-empty string")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            raise InvalidModelDefinition(f"{where}.values must be a non-empty list of strings")
        return {"source": source, "key": key, "operator": "in", "values": list(values)}
    pattern, operator, value = raw.get("usageDetailPattern"), raw.get("operator"), raw.get("value")
    if not isinstance(pattern, str) or not pattern:
        raise InvalidModelDefinition(f"{where}.usageDetailPattern must be a regex string")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InvalidModelDefinition(f"{where}.usageDetailPattern is invalid: {exc}") from None
    if operator not in _OPERATORS:
        raise InvalidModelDefinition(f"{where}.operator must be one of {', '.join(_OPERATORS)}")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidModelDefinition(f"{where}.value must be a number")
    if unservable_number(value) is not None:
        raise InvalidModelDefinition(
            f"{where}.value must be finite and fit in a double or a 64-bit integer"
        )
    if isinstance(value, Decimal):  # JSON parsed with parse_float=Decimal
        value = float(value)
    case_sensitive = raw.get("caseSensitive", False)
    if not isinstance(case_sensitive, bool):
        raise InvalidModelDefinition(f"{where}.caseSensitive must be a boolean")
    return {
        "usageDetailPattern": pattern,
        "operator": operator,
        "value": value,
        "caseSensitive": case_sensitive,
    }


def _tier(index: int, raw: Any) -> TierDefinition:
    where = f"pricingTiers[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidModelDefinition(f"{where} must be an object")
    name = _text(raw, "name", required=True)
    assert name is not None
    is_default = raw.get("isDefault", False)
    priority = raw.get("priority", 0 if is_default else None)
    if not isinstance(is_default, bool):
        raise InvalidModelDefinition(f"{where}.isDefault must be a boolean")
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > 2**31 - 1:
        raise InvalidModelDefinition(f"{where}.priority must be an integer")
    conditions = raw.get("conditions", [])
    if not isinstance(conditions, list):
        raise InvalidModelDefinition(f"{where}.conditions must be a list")
    prices = _prices(f"{where}.prices", raw.get("prices", {}))
    if not prices:
        raise InvalidModelDefinition(f"{where} must define at least one price")
    if is_default and (priority != 0 or conditions):
        raise InvalidModelDefinition(
            f"{where}: the default tier needs priority 0 and no conditions"
        )
    parsed = tuple(_condition(f"{where}.conditions[{i}]", c) for i, c in enumerate(conditions))
    return TierDefinition(name, is_default, priority, parsed, prices)


def _unwrap(prices: Any) -> Any:
    """Legacy ``prices`` may be ``{key: number}`` or the read shape ``{key: {"price": n}}``."""
    if not isinstance(prices, Mapping):
        return prices
    return {
        key: value.get("price") if isinstance(value, Mapping) else value
        for key, value in prices.items()
    }


def _tiers(raw: Mapping[str, Any]) -> tuple[TierDefinition, ...]:
    """Pricing tiers, or the legacy flat prices as one default tier "Standard".

    ``prices`` (legacy input, and the read-only field of Langfuse's ``Model`` shape) is ignored
    when ``pricingTiers`` is given, so a definition read from the API can be sent back as is.
    """
    flat_keys = [k for k in ("inputPrice", "outputPrice", "totalPrice") if raw.get(k) is not None]
    legacy = raw.get("prices")
    tiers_raw = raw.get("pricingTiers")
    if tiers_raw is not None and flat_keys:
        raise InvalidModelDefinition("give pricingTiers or flat prices, not both")
    if tiers_raw is None:
        if "totalPrice" in flat_keys and len(flat_keys) > 1:
            raise InvalidModelDefinition("totalPrice cannot be set with inputPrice or outputPrice")
        prices = _prices("prices", _unwrap(legacy)) if legacy is not None else {}
        for key in flat_keys:
            prices[key.removesuffix("Price")] = _price(key, raw[key])
        if not prices:
            return ()
        return (TierDefinition("Standard", True, 0, (), prices),)
    if not isinstance(tiers_raw, list) or not tiers_raw:
        raise InvalidModelDefinition("pricingTiers must be a non-empty list")
    tiers = tuple(_tier(i, t) for i, t in enumerate(tiers_raw))
    if sum(t.is_default for t in tiers) != 1:
        raise InvalidModelDefinition("pricingTiers needs exactly one tier with isDefault true")
    if len({t.name for t in tiers}) != len(tiers):
        raise InvalidModelDefinition("pricing tier names must be unique")
    if len({t.priority for t in tiers}) != len(tiers):
        raise InvalidModelDefinition("pricing tier priorities must be unique")
    return tiers


def _start_date(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidModelDefinition("startDate must be an ISO 8601 date-time") from None
    else:
        raise InvalidModelDefinition("startDate must be an ISO 8601 date-time string")
    if parsed.year < 1970 or parsed.year > 9999:
        raise InvalidModelDefinition("startDate is out of range")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_model_definition(raw: Any, *, model_id: str | None = None) -> ModelDefinition:
    """Validate a Langfuse model-definition object (module docstring for the rules).

    Args:
        raw: the decoded JSON object.
        model_id: the id from the URL (``PUT /models/{id}``); overrides ``raw["id"]``.

    Raises:
        InvalidModelDefinition: the object breaks a rule.
    """
    if not isinstance(raw, Mapping):
        raise InvalidModelDefinition("a model definition must be a JSON object")
    model_name = _text(raw, "modelName", required=True)
    match_pattern = _text(raw, "matchPattern", required=True)
    assert model_name is not None and match_pattern is not None
    unit = raw.get("unit") or "TOKENS"
    if unit not in UNITS:
        raise InvalidModelDefinition(f"unit must be one of {', '.join(UNITS)}")
    tokenizer_id = raw.get("tokenizerId")
    if tokenizer_id is not None and tokenizer_id not in TOKENIZERS:
        raise InvalidModelDefinition(f"tokenizerId must be one of {', '.join(TOKENIZERS)} or null")
    tokenizer_config = raw.get("tokenizerConfig")
    if tokenizer_config is not None and not isinstance(tokenizer_config, Mapping):
        raise InvalidModelDefinition("tokenizerConfig must be a JSON object or null")
    if _has_nul(tokenizer_config):
        raise InvalidModelDefinition("tokenizerConfig must not contain NUL characters")
    if unservable_number(tokenizer_config) is not None:
        raise InvalidModelDefinition(
            "tokenizerConfig numbers must be finite and fit in a double or a 64-bit integer"
        )
    given_id = model_id if model_id is not None else raw.get("id")
    if given_id is not None and (not isinstance(given_id, str) or not MODEL_ID.match(given_id)):
        raise InvalidModelDefinition("id must be 1-128 letters, digits, '_', '.', ':' or '-'")
    return ModelDefinition(
        model_name=model_name.strip(),
        match_pattern=match_pattern,
        start_date=_start_date(raw.get("startDate")),
        unit=unit,
        tokenizer_id=tokenizer_id,
        tokenizer_config=dict(tokenizer_config) if tokenizer_config is not None else None,
        tiers=_tiers(raw),
        id=given_id,
    )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: Decimal) -> float:
    return float(value)


def _prices_json(prices: Mapping[str, Decimal]) -> dict[str, float]:
    return {key: _number(price) for key, price in sorted(prices.items())}


def model_json(model: StoredModel) -> dict[str, Any]:
    """Langfuse's ``Model`` JSON (``storage.query.schemas.Model``; flat ``inputPrice`` /
    ``prices`` from the default tier)."""
    default: Sequence[StoredTier] = [t for t in model.tiers if t.is_default]
    base = default[0].prices if default else {}

    def flat(key: str) -> float | None:
        return _number(base[key]) if key in base else None

    created_at = _iso(model.created_at)
    assert created_at is not None
    return schemas.as_json(
        schemas.Model(
            id=model.id,
            model_name=model.model_name,
            match_pattern=model.match_pattern,
            start_date=_iso(model.start_date),
            unit=model.unit,
            input_price=flat("input"),
            output_price=flat("output"),
            total_price=flat("total"),
            tokenizer_id=model.tokenizer_id,  # type: ignore[arg-type]  # TOKENIZERS on the way in
            tokenizer_config=model.tokenizer_config,
            is_langfuse_managed=model.project_id is None,
            created_at=created_at,
            prices={key: schemas.ModelPrice(price=p) for key, p in _prices_json(base).items()},
            pricing_tiers=[
                schemas.PricingTier(
                    id=tier.id,
                    name=tier.name,
                    is_default=tier.is_default,
                    priority=tier.priority,
                    conditions=[dict(c) for c in tier.conditions],
                    prices=_prices_json(tier.prices),
                )
                for tier in sorted(model.tiers, key=lambda t: t.priority)
            ],
        )
    )
