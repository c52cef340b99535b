"""OTLP spans → Langfuse-shaped ``ObservationRecord``s (docs/reference/langfuse.md §1.3-§1.12).

Public API::

    from ingest.mapping import IngestContext, MappingResult, map_export_request

    result = map_export_request(request, IngestContext(project_id="p1"), now_us=None)
    result.records          # list[ObservationRecord], one per accepted span, request order
    result.rejected_spans   # int, spans with invalid ids or a mapping failure
    result.errors           # list[str], at most 10 reasons

Modules, one concept each: ``attributes`` (AnyValue decoding, §1.3), ``view`` (decoded
resource/scope/span), ``observation_type`` (§1.7 rule table), ``fields`` (name, environment,
level, version, release, model, parameters, completion start, prompt; §1.8-§1.9), ``usage``
(§1.10 usage, provided cost), ``io`` (§1.11 input/output), ``nested`` (flattened-key
reconstruction), ``metadata`` (§1.12), ``trace_fields`` (§1.6), ``span`` (one span),
``request`` (a whole export request). ``native``: the optional mypyc-compiled build of these
modules and its pure-Python fallback (``make compile``; docs/operations.md "Compiled span mapping").
"""

from __future__ import annotations

from ingest.mapping import native

NATIVE = native.activate(__path__)
"""Whether the submodules below come from the mypyc build (``ingest.mapping.native``); must run
before they are imported."""

from ingest.mapping.context import IngestContext, MappingResult  # noqa: E402
from ingest.mapping.native import compiled_modules  # noqa: E402
from ingest.mapping.request import map_export_request  # noqa: E402

__all__ = ["NATIVE", "IngestContext", "MappingResult", "compiled_modules", "map_export_request"]
