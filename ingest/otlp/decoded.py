"""What the OTLP decoders return: the request, and the spans that could not be decoded.

A request that does not decode as a whole is decoded part by part (``ingest.otlp.protobuf_codec``,
``ingest.otlp.json_codec``): each resource, scope and span on its own, so one undecodable span
(invalid UTF-8 in one string, nesting deeper than the parser allows, a value of the wrong JSON
type) is rejected alone in ``partial_success`` and the rest is stored (issue 15 item 8; OTLP
specification, "Partial Success": the server accepts the valid part of a request). A rejected
span stays in the request as a placeholder (an empty ``Span`` carrying only its name), so spans
keep their request-order numbers in rejection reasons (``ingest.mapping.request``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

__all__ = ["DecodedRequest", "OTLPDecodeError", "PartialRequest", "decode_problem"]


class OTLPDecodeError(ValueError):
    """The body is not an OTLP trace export at all (→ HTTP 400 / INVALID_ARGUMENT).

    ``str(error)`` is a short, client-facing reason.
    """


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """A decoded export request.

    Attributes:
        request: the request; a span that could not be decoded is an empty ``Span`` holding
            only its name (as far as it could be read) at its position.
        rejected: request-order span index (from 0 across the whole request) → why it could
            not be decoded, e.g. ``undecodable span: String field had bad UTF-8``.
        encoded: the protobuf bytes ``request`` was parsed from, when it parsed as a whole
            (what the raw archive keeps instead of encoding the request again); else ``None``.
    """

    request: ExportTraceServiceRequest
    rejected: dict[int, str] = field(default_factory=dict)
    encoded: bytes | None = None


@dataclass(slots=True)
class PartialRequest:
    """Builds a ``DecodedRequest`` part by part (used by the decoders' fallback paths)."""

    request: ExportTraceServiceRequest = field(default_factory=ExportTraceServiceRequest)
    rejected: dict[int, str] = field(default_factory=dict)
    _index: int = 0

    def resource_spans(self) -> ResourceSpans:
        """A new, empty ``ResourceSpans`` at the end of the request."""
        return self.request.resource_spans.add()

    def add(self, scope_spans: ScopeSpans, span: Span) -> None:
        """Append a decoded span."""
        scope_spans.spans.append(span)
        self._index += 1

    def reject(self, scope_spans: ScopeSpans, name: str, reason: str) -> None:
        """Append a placeholder span named ``name``, rejected for ``reason``."""
        scope_spans.spans.append(Span(name=name))
        self.rejected[self._index] = reason
        self._index += 1

    def done(self) -> DecodedRequest:
        """The request and its rejected spans."""
        return DecodedRequest(self.request, self.rejected)


def decode_problem(exc: BaseException) -> str:
    """The parser's reason without protobuf's ``Error parsing message with type '…':`` prefix."""
    text = str(exc)
    if isinstance(exc, DecodeError) and "': " in text:
        text = text.split("': ", 1)[1]
    return text or type(exc).__name__
