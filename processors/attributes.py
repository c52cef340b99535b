"""Lazy read-only views of a record's JSON attributes, decoded only when a price source asks.

Most lookups never read model parameters or metadata, so records are not decoded up front.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import orjson

__all__ = ["JsonObjectView", "JsonValuesView"]


class JsonObjectView(Mapping[str, object]):
    """Top-level keys of a JSON object text (``model_parameters``); empty if not an object."""

    __slots__ = ("_decoded", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._decoded: dict[str, object] | None = None

    @property
    def text(self) -> str:
        """The JSON text the view decodes (equal texts give equal views)."""
        return self._text

    def _data(self) -> dict[str, object]:
        if self._decoded is None:
            decoded: object = None
            if self._text:
                try:
                    decoded = orjson.loads(self._text)
                except orjson.JSONDecodeError:
                    decoded = None
            self._decoded = decoded if isinstance(decoded, dict) else {}
        return self._decoded

    def __getitem__(self, key: str) -> object:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __bool__(self) -> bool:
        return bool(self._text) and bool(self._data())


class JsonValuesView(Mapping[str, object]):
    """A map whose values are JSON texts (record ``metadata``), decoded per access.

    A value that is not valid JSON is returned as the raw string.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, str]) -> None:
        self._raw = raw

    def __getitem__(self, key: str) -> object:
        text = self._raw[key]
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)
