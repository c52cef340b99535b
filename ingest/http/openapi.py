"""The OpenAPI 3.1 document a role serves: exactly the operations of its mounted routes.

The operations are described once (``storage.query.openapi``); each role's app keeps the
path items whose path and method it mounts, so the receiver, the query role and the
all-in-one process each document what they answer and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Route

from storage.query import openapi
from storage.query.scores.openapi import SCORES_OPENAPI_PATHS, SCORES_OPENAPI_SCHEMAS

__all__ = ["OPENAPI_PATH", "openapi_document"]

OPENAPI_PATH = openapi.OPENAPI_PATH

_PARAMETER = re.compile(r"\{[^}]*\}")


def _template(path: str) -> str:
    """``/a/{trace_id}`` and ``/a/{traceId}`` -> ``/a/{}``: routes and OpenAPI name path
    parameters differently (Python vs Langfuse's camelCase)."""
    return _PARAMETER.sub("{}", path)


def openapi_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The document describing the (path, method) pairs of ``routes``; undocumented routes
    are left out, and so are documented operations that ``routes`` do not serve."""
    mounted = {
        (_template(route.path), method.lower())
        for route in routes
        if isinstance(route, Route)
        for method in route.methods or ()
    }
    document = openapi.openapi_document(SCORES_OPENAPI_PATHS, SCORES_OPENAPI_SCHEMAS)
    paths: dict[str, Any] = {}
    for path, item in document["paths"].items():
        kept = {m: op for m, op in item.items() if (_template(path), m) in mounted}
        if kept:
            paths[path] = kept
    document["paths"] = paths
    return document
