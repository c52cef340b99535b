"""Prices of models: catalog and PostgreSQL sources, pricing tiers, cost and USD amounts."""

__all__: list[str] = []
