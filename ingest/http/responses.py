"""The one JSON response class of every HTTP route: orjson-encoded ``application/json``."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["JSONResponse", "error_response"]


class JSONResponse(Response):
    """A JSON response encoded with orjson (dicts, lists, str, int, float, bool, None)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` to UTF-8 JSON bytes."""
        return orjson.dumps(content)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Langfuse's error body ``{"message": message}`` with ``status``."""
    return JSONResponse({"message": message}, status_code=status, headers=headers)
