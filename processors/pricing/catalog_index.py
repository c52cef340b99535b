"""Resolving a provided model name to a model of the genai-prices catalog.

Order (the first hit wins; names are compared lower-case):

1. ``<provider>/<model>`` where ``<provider>`` is a catalog provider id or alias
   (``openai/gpt-4o``, ``vertex_ai/gemini-2.5-flash``, ``bedrock/...``): the model within that
   provider (exact id, then the package's match logic, including its provider fallbacks).
2. The package's own logic (as ``genai_prices.calc_price`` without a provider): the provider whose
   ``model_match`` accepts the name, then the model within it; for a name with an unknown
   ``<prefix>/``, the same for the part after the slash.
3. An exact model id in any provider, first-party providers first (``text-embedding-3-small``).
4. The match logic of every provider, first-party providers first (Bedrock ids such as
   ``us.anthropic.claude-sonnet-4-5-20250929-v1:0``, Hugging Face ``org/model`` ids).

Matching an unknown name walks all ~2,300 models (about 1 ms); callers cache results per name.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_prices.data_snapshot import find_provider_by_id
from genai_prices.types import ModelInfo, Provider

__all__ = ["CatalogIndex"]

PREFERRED_PROVIDERS: tuple[str, ...] = (
    "openai",
    "anthropic",
    "aws",
    "google",
    "azure",
    "mistral",
    "cohere",
    "x-ai",
    "deepseek",
    "groq",
)
"""Providers searched first in steps 3 and 4 (first-party prices before resellers)."""


class CatalogIndex:
    """Name -> (provider, model) over a list of genai-prices providers (e.g. the bundled data)."""

    def __init__(self, providers: Sequence[Provider]) -> None:
        self._providers = list(providers)
        rank = {provider_id: i for i, provider_id in enumerate(PREFERRED_PROVIDERS)}
        self._ordered = sorted(self._providers, key=lambda p: rank.get(p.id, len(rank)))
        self._by_id: dict[tuple[str, str], ModelInfo] = {}
        self._first_by_id: dict[str, tuple[Provider, ModelInfo]] = {}
        for provider in self._ordered:
            for model in provider.models:
                model_id = model.id.lower()
                self._by_id.setdefault((provider.id, model_id), model)
                self._first_by_id.setdefault(model_id, (provider, model))

    def find(self, name: str) -> tuple[Provider, ModelInfo] | None:
        """The catalog model for a provided model name, or None when nothing matches."""
        ref = name.strip().lower()
        if not ref:
            return None
        refs = [ref]
        if "/" in ref:
            prefix, rest = ref.split("/", 1)
            provider = find_provider_by_id(self._providers, prefix)
            if provider is not None and rest:
                found = self._within(provider, rest)
                if found is not None:
                    return found
            if rest:
                refs.append(rest)
        for candidate in refs:
            provider = self._detect_provider(candidate)
            if provider is not None and (found := self._within(provider, candidate)) is not None:
                return found
        for candidate in refs:
            if (exact := self._first_by_id.get(candidate)) is not None:
                return exact
        for candidate in refs:
            for provider in self._ordered:
                if (model := provider.find_model(candidate)) is not None:
                    return provider, model
        return None

    def _within(self, provider: Provider, ref: str) -> tuple[Provider, ModelInfo] | None:
        model = self._by_id.get((provider.id, ref)) or provider.find_model(
            ref, all_providers=self._providers
        )
        return (provider, model) if model is not None else None

    def _detect_provider(self, ref: str) -> Provider | None:
        for provider in self._providers:
            if provider.model_match is not None and provider.model_match.is_match(ref):
                return provider
        return None
