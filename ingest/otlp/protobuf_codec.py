"""OTLP/protobuf request bodies → ``DecodedRequest`` (both transports; issue 15 item 8).

A body is parsed with the generated ``ExportTraceServiceRequest`` first. protobuf (upb)
refuses the *whole* message when one ``string`` field holds invalid UTF-8 (proto3 strings are
UTF-8, "Language Guide (proto 3)", Scalar Value Types) or when messages nest deeper than its
recursion limit (100 levels counted from the top message; an attribute value of about 47 nested
arrays reaches it). Only then the body is parsed a second time with a *mirror* of the three
outer OTLP messages whose sub-messages are declared ``bytes``::

    ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
    ResourceSpans { bytes resource = 1; repeated ScopeSpans scope_spans = 2; bytes schema_url = 3; }
    ScopeSpans    { bytes scope = 1;    repeated bytes spans = 2;            bytes schema_url = 3; }

A ``bytes`` field and an embedded message share the wire type (length-delimited, "Encoding":
Length-Delimited Records), so the mirror reads the same bytes and hands over each resource,
scope and span still encoded, without looking inside. Each is then parsed on its own with the
real message type: what fails is rejected alone — a span with its reason, every span of a
resource or scope that fails — and the rest is kept. A span parsed alone also gets the three
levels of nesting its envelope used, so values just over the limit inside a request survive.
The names of rejected spans are read with a second one-field mirror (``bytes name = 5``) and
shown with invalid bytes replaced. The mirrors are built from descriptors at import
(``google.protobuf.descriptor_pb2``, ``message_factory.GetMessageClass``), with the field
numbers of the generated OTLP classes, so no second ``.proto`` file has to follow OTLP.

A body the mirror cannot read either (not protobuf at all, truncated) raises
``OTLPDecodeError`` with the strict parser's reason (→ 400 / INVALID_ARGUMENT).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from ingest.otlp.decoded import DecodedRequest, OTLPDecodeError, PartialRequest, decode_problem

__all__ = ["decode_protobuf_request"]

_BYTES = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_PACKAGE = "otelfuse.otlp_mirror"


def _mirror_file() -> descriptor_pb2.FileDescriptorProto:
    """The mirror messages (module docstring), field numbers taken from the OTLP classes."""
    file = descriptor_pb2.FileDescriptorProto(
        name="otelfuse/otlp_mirror.proto", package=_PACKAGE, syntax="proto3"
    )

    def message(name: str, source: Descriptor, fields: dict[str, tuple[int, str]]) -> None:
        proto = file.message_type.add(name=name)
        for field_name, (label, type_name) in fields.items():
            number = source.fields_by_name[field_name].number
            field = proto.field.add(name=field_name, number=number, label=label)
            if type_name:
                field.type, field.type_name = _MESSAGE, f".{_PACKAGE}.{type_name}"
            else:
                field.type = _BYTES

    message(
        "ScopeSpans",
        ScopeSpans.DESCRIPTOR,
        {"scope": (_OPTIONAL, ""), "spans": (_REPEATED, ""), "schema_url": (_OPTIONAL, "")},
    )
    message(
        "ResourceSpans",
        ResourceSpans.DESCRIPTOR,
        {
            "resource": (_OPTIONAL, ""),
            "scope_spans": (_REPEATED, "ScopeSpans"),
            "schema_url": (_OPTIONAL, ""),
        },
    )
    message(
        "ExportTraceServiceRequest",
        ExportTraceServiceRequest.DESCRIPTOR,
        {"resource_spans": (_REPEATED, "ResourceSpans")},
    )
    message("SpanName", Span.DESCRIPTOR, {"name": (_OPTIONAL, "")})
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_mirror_file())
_MirrorRequest: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{_PACKAGE}.ExportTraceServiceRequest")
)
_SpanName: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{_PACKAGE}.SpanName")
)


def decode_protobuf_request(body: bytes) -> DecodedRequest:
    """Decode an OTLP/protobuf trace export, keeping the spans that decode (module docstring).

    Args:
        body: the request's bytes (already decompressed).

    Returns:
        ``DecodedRequest``: the request and ``{span index: reason}`` of the spans that could
        not be decoded (empty for a body that parses as a whole).

    Raises:
        OTLPDecodeError: the body is not an ``ExportTraceServiceRequest`` even part by part.
    """
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as strict:
        mirror = _MirrorRequest()
        try:
            mirror.ParseFromString(body)
        except DecodeError:
            raise OTLPDecodeError(f"invalid OTLP protobuf body: {strict}") from None
        return _decode_parts(mirror)
    return DecodedRequest(request, encoded=body)


def _decode_parts(mirror: Any) -> DecodedRequest:
    """Parse each resource, scope and span of the mirror on its own."""
    out = PartialRequest()
    for raw_resource_spans in mirror.resource_spans:
        resource_spans = out.resource_spans()
        resource_spans.schema_url = _text(raw_resource_spans.schema_url)
        problem = _parse_into(resource_spans.resource, Resource, raw_resource_spans.resource)
        if problem is not None:
            problem = f"undecodable resource: {problem}"
        for raw_scope_spans in raw_resource_spans.scope_spans:
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.schema_url = _text(raw_scope_spans.schema_url)
            scope_problem = problem
            if scope_problem is None:
                scope_problem = _parse_into(
                    scope_spans.scope, InstrumentationScope, raw_scope_spans.scope
                )
                if scope_problem is not None:
                    scope_problem = f"undecodable scope: {scope_problem}"
            for raw_span in raw_scope_spans.spans:
                span_problem = scope_problem
                if span_problem is None:
                    try:
                        out.add(scope_spans, Span.FromString(raw_span))
                        continue
                    except DecodeError as exc:
                        span_problem = f"undecodable span: {decode_problem(exc)}"
                out.reject(scope_spans, _span_name(raw_span), span_problem)
    return out.done()


def _parse_into(target: Any, message_type: Any, raw: bytes) -> str | None:
    """Parse ``raw`` as ``message_type`` into ``target``; the reason when it does not parse."""
    try:
        target.CopyFrom(message_type.FromString(raw))
    except DecodeError as exc:
        return decode_problem(exc)
    return None


def _span_name(raw_span: bytes) -> str:
    try:
        return _text(_SpanName.FromString(raw_span).name)
    except DecodeError:
        return ""


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")
