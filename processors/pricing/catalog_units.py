"""Translating genai-prices per-million-token prices into per-token prices of Langfuse usage keys.

genai-prices prices token *units* arranged in a hierarchy (``genai_prices/data_units.py``):
``input_tokens`` includes cache reads/writes, audio, image tokens; each token is billed at the
most specific unit the model prices (its "leaf"), e.g. cache reads at ``cache_read_mtok`` when
priced, else at ``input_mtok``. Langfuse usage keys are disjoint buckets instead (``input``
excludes cache buckets; ``output`` excludes reasoning/audio, docs/reference/langfuse.md §1.10), so
each bucket is priced at the first price key of its chain below that the model has. Summed over the
buckets this equals genai-prices' total for the same usage.

Tiered prices (``TieredPrices``: all tokens of a unit at the tier's price once the request's
total input tokens exceed the tier's start) keep their thresholds; ``Rate.at`` selects the price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from genai_prices.types import ModelPrice, TieredPrices

__all__ = ["INPUT_KEYS", "PRICE_KEY_CHAINS", "Rate", "langfuse_rates"]

_PER_MTOK = -6  # all *_mtok prices are USD per 1,000,000 tokens (scaleb exponent)

_INPUT = ("input_mtok",)
_OUTPUT = ("output_mtok",)
_CACHE_READ = ("cache_read_mtok", "input_mtok")
_CACHE_WRITE = ("cache_write_mtok", "input_mtok")

PRICE_KEY_CHAINS: Mapping[str, tuple[str, ...]] = {
    "input": _INPUT,
    "input_tokens": _INPUT,
    "output": _OUTPUT,
    "output_tokens": _OUTPUT,
    # cache reads
    "input_cached_tokens": _CACHE_READ,
    "input_cache_read": _CACHE_READ,
    "cache_read_input_tokens": _CACHE_READ,
    # cache writes
    "input_cache_creation": _CACHE_WRITE,
    "input_cache_write": _CACHE_WRITE,
    "cache_creation_input_tokens": _CACHE_WRITE,
    "input_cache_creation_5m": ("cache_write_5m_mtok", "cache_write_mtok", "input_mtok"),
    "input_cache_creation_1h": ("cache_write_1h_mtok", "cache_write_mtok", "input_mtok"),
    # modalities
    "input_audio_tokens": ("input_audio_mtok", "input_mtok"),
    "input_image_tokens": ("input_image_mtok", "input_mtok"),
    "input_video_tokens": ("input_video_mtok", "input_mtok"),
    "output_audio_tokens": ("output_audio_mtok", "output_mtok"),
    "output_image_tokens": ("output_image_mtok", "output_mtok"),
    "output_video_tokens": ("output_video_mtok", "output_mtok"),
    # output subsets billed as output unless priced separately
    "output_reasoning_tokens": ("output_reasoning_mtok", "output_mtok"),
    "output_reasoning": ("output_reasoning_mtok", "output_mtok"),  # Genkit (thoughtsTokens)
    "output_accepted_prediction_tokens": _OUTPUT,
    "output_rejected_prediction_tokens": _OUTPUT,
}
"""Langfuse usage key -> genai-prices price keys, most specific first."""

INPUT_KEYS: frozenset[str] = frozenset(
    key for key, chain in PRICE_KEY_CHAINS.items() if chain[-1] == "input_mtok"
)
"""Usage keys whose tokens count as input tokens for tier thresholds (includes cache buckets)."""


@dataclass(frozen=True, slots=True)
class Rate:
    """Price of one usage key in USD per token, optionally tiered by total input tokens.

    ``tiers``: (start, USD per token), ascending; a tier applies when input tokens > start.
    """

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()

    def at(self, input_tokens: int) -> Decimal:
        """The price (USD per token) for a request with ``input_tokens`` input tokens in total."""
        price = self.base
        for start, tier_price in self.tiers:
            if input_tokens > start:
                price = tier_price
        return price


def langfuse_rates(model_price: ModelPrice) -> dict[str, Rate]:
    """Per-token rates of every Langfuse usage key a genai-prices ``ModelPrice`` can price.

    Models priced on input tokens only (embeddings) also get a ``total`` rate equal to the input
    rate, so a usage that reports only ``total`` (e.g. Vercel AI ``embed``) is priced too.
    """
    priced = {
        key: _rate(value)
        for key, value in vars(model_price).items()
        if key.endswith("_mtok") and isinstance(value, Decimal | TieredPrices)
    }
    rates: dict[str, Rate] = {}
    for usage_key, chain in PRICE_KEY_CHAINS.items():
        rate = next((priced[key] for key in chain if key in priced), None)
        if rate is not None:
            rates[usage_key] = rate
    if priced.keys() == {"input_mtok"}:
        rates["total"] = priced["input_mtok"]
    return rates


def _rate(value: Decimal | TieredPrices) -> Rate:
    if isinstance(value, Decimal):
        return Rate(value.scaleb(_PER_MTOK))
    return Rate(
        value.base.scaleb(_PER_MTOK),
        tuple((tier.start, tier.price.scaleb(_PER_MTOK)) for tier in value.tiers),
    )
