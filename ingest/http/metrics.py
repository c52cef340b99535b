"""Request metrics for the HTTP query API, labelled by route template
(docs/reference/style.md §2.6).

``otelfuse_query_request_duration_seconds{route, method, status_class}``: ``route`` is the
matched route's template (``/api/public/traces/{trace_id}``), never the raw path, so labels stay
bounded; unmatched paths are ``unmatched``. OTLP export routes have their own receiver metrics
and are left out.
"""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["QUERY_REQUEST_DURATION", "QueryMetricsMiddleware"]

QUERY_REQUEST_DURATION = Histogram(
    "otelfuse_query_request_duration_seconds",
    "Time to answer a query API request, in seconds.",
    ["route", "method", "status_class"],
)

_SKIPPED = ("/v1/traces", "/api/public/otel/", "/metrics")


class QueryMetricsMiddleware:
    """Pure ASGI middleware observing ``QUERY_REQUEST_DURATION`` for ``/api/public`` routes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_SKIPPED):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            QUERY_REQUEST_DURATION.labels(
                template, scope.get("method", ""), f"{status // 100}xx"
            ).observe(time.perf_counter() - started)
