"""OTLP trace encoding for the span exporter, written for the router's hot process.

The OpenTelemetry exporter turns every finished span into protobuf message objects field by
field (``encode_spans``): about 45–60 µs per span on this machine, on the exporter's background
thread but under the same GIL as the requests, and more than the span itself costs to record.
Solace's spans repeat a small vocabulary (stage names, RPC names, status codes), so this module
writes the OTLP wire format directly: each distinct attribute, resource and instrumentation scope
is encoded once by the protobuf classes and then reused as bytes; a span is its ids, times, name,
kind, flags and status framed around those bytes. Spans carrying events or links (which Solace's
own spans never do) are encoded by the standard encoder, so every span the SDK can produce is
exported exactly as ``encode_spans`` would export it; the tests compare the two message for
message.

``OtlpGrpcSpanExporter`` is the standard OTLP/gRPC exporter (endpoint, headers, TLS, retries
and compression all from the ``OTEL_EXPORTER_OTLP_*`` variables as before) with this encoder.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

# OTLP field tags (field number << 3 | wire type) of the messages built here.
_LEN = 2
_REQUEST_RESOURCE_SPANS = bytes([1 << 3 | _LEN])
_RESOURCE_SPANS_RESOURCE = bytes([1 << 3 | _LEN])
_RESOURCE_SPANS_SCOPE_SPANS = bytes([2 << 3 | _LEN])
_RESOURCE_SPANS_SCHEMA_URL = bytes([3 << 3 | _LEN])
_SCOPE_SPANS_SCOPE = bytes([1 << 3 | _LEN])
_SCOPE_SPANS_SPAN = bytes([2 << 3 | _LEN])
_SCOPE_SPANS_SCHEMA_URL = bytes([3 << 3 | _LEN])
_SPAN_TRACE_ID = bytes([1 << 3 | _LEN, 16])
_SPAN_SPAN_ID = bytes([2 << 3 | _LEN, 8])
_SPAN_TRACE_STATE = bytes([3 << 3 | _LEN])
_SPAN_PARENT_SPAN_ID = bytes([4 << 3 | _LEN, 8])
_SPAN_NAME = bytes([5 << 3 | _LEN])
_SPAN_KIND = bytes([6 << 3])  # varint
_SPAN_START = bytes([7 << 3 | 1])  # fixed64
_SPAN_END = bytes([8 << 3 | 1])
_SPAN_ATTRIBUTE = bytes([9 << 3 | _LEN])
_SPAN_DROPPED_ATTRIBUTES = bytes([10 << 3])
_SPAN_STATUS = bytes([15 << 3 | _LEN])
_SPAN_FLAGS = bytes([16 << 3 | 5 | 0x80, 1])  # fixed32, field 16 needs a two-byte tag
_STATUS_MESSAGE = bytes([2 << 3 | _LEN])
_STATUS_CODE = bytes([3 << 3])

# SpanFlags: the context's is-remote bit is known (0x100), and set when the parent is remote.
_FLAGS_LOCAL_PARENT = struct.pack("<I", 0x100)
_FLAGS_REMOTE_PARENT = struct.pack("<I", 0x300)
_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_FIXED64 = struct.Struct("<Q").pack

# Encoded attributes, keyed by (key, type, value): ``True == 1`` must not share an entry. Ids
# (request ids, escalation ids) are unique per request, so the cache stops growing when full.
_ATTRIBUTE_CACHE_SIZE = 4096
_attribute_cache: dict[tuple[str, type, Any], bytes] = {}
_resource_cache: dict[int, tuple[Any, bytes]] = {}
_scope_cache: dict[int, tuple[Any, bytes]] = {}


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _any_value(value: Any) -> AnyValue:
    """The OTLP value of one attribute: the types the SDK admits (scalars, bytes, sequences)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, Sequence):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    if isinstance(value, Mapping):
        return AnyValue(
            kvlist_value=KeyValueList(
                values=[KeyValue(key=str(k), value=_any_value(v)) for k, v in value.items()]
            )
        )
    if value is None:
        return AnyValue()
    raise TypeError(f"attribute value of type {type(value).__name__} has no OTLP encoding")


def _key_values(attributes: Mapping[str, Any] | None) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any_value(v)) for k, v in (attributes or {}).items()]


def _attribute(key: str, value: Any) -> bytes:
    """One ``attributes`` entry of a span (tag, length, KeyValue), from the cache when seen."""
    cache_key = (key, type(value), value if not isinstance(value, list) else tuple(value))
    try:
        return _attribute_cache[cache_key]
    except KeyError:
        cacheable = len(_attribute_cache) < _ATTRIBUTE_CACHE_SIZE
    except TypeError:  # an unhashable value: encode it every time
        cacheable = False
    message = KeyValue(key=key, value=_any_value(value))
    encoded = _field(_SPAN_ATTRIBUTE, message.SerializeToString())
    if cacheable:
        _attribute_cache[cache_key] = encoded
    return encoded


def _resource(resource: Any) -> bytes:
    """A ResourceSpans' resource field; one encoding per Resource object (a provider has one)."""
    cached = _resource_cache.get(id(resource))
    if cached is None or cached[0] is not resource:
        message = Resource(attributes=_key_values(resource.attributes))
        cached = (resource, _field(_RESOURCE_SPANS_RESOURCE, message.SerializeToString()))
        _resource_cache[id(resource)] = cached
    return cached[1]


def _scope(scope: Any) -> bytes:
    """A ScopeSpans' scope field; one encoding per InstrumentationScope object."""
    cached = _scope_cache.get(id(scope))
    if cached is None or cached[0] is not scope:
        if scope is None:
            message = InstrumentationScope()
        else:
            message = InstrumentationScope(
                name=scope.name, version=scope.version, attributes=_key_values(scope.attributes)
            )
        cached = (scope, _field(_SCOPE_SPANS_SCOPE, message.SerializeToString()))
        _scope_cache[id(scope)] = cached
    return cached[1]


def encode_span(span: ReadableSpan) -> bytes:
    """One span as the body of an OTLP ``Span`` message."""
    if span.events or span.links:
        # Not on Solace's own path: let the standard encoder handle events and links.
        request = encode_spans([span])
        return request.resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    context = span.context
    parent = span.parent
    parts = [_SPAN_TRACE_ID, context.trace_id.to_bytes(16, "big"), _SPAN_SPAN_ID]
    parts.append(context.span_id.to_bytes(8, "big"))
    trace_state = context.trace_state
    if trace_state:
        parts.append(
            _field(_SPAN_TRACE_STATE, ",".join(f"{k}={v}" for k, v in trace_state.items()).encode())
        )
    if parent is not None:
        parts += (_SPAN_PARENT_SPAN_ID, parent.span_id.to_bytes(8, "big"))
    parts += (
        _field(_SPAN_NAME, span.name.encode()),
        _SPAN_KIND,
        bytes([_KIND[span.kind]]),
        _SPAN_START,
        _FIXED64(span.start_time or 0),
        _SPAN_END,
        _FIXED64(span.end_time or 0),
    )
    attributes = span.attributes
    if attributes:
        parts += [_attribute(k, v) for k, v in attributes.items()]
    if span.dropped_attributes:
        parts += (_SPAN_DROPPED_ATTRIBUTES, _varint(span.dropped_attributes))
    status = span.status
    if status is not None:
        body = b""
        if status.description:
            body = _field(_STATUS_MESSAGE, status.description.encode())
        if status.status_code.value:
            body += _STATUS_CODE + _varint(status.status_code.value)
        parts.append(_field(_SPAN_STATUS, body))
    parts += (
        _SPAN_FLAGS,
        _FLAGS_REMOTE_PARENT if parent is not None and parent.is_remote else _FLAGS_LOCAL_PARENT,
    )
    return b"".join(parts)


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """An ``ExportTraceServiceRequest`` for ``spans``, grouped by resource and scope as the
    standard encoder groups them."""
    # Grouped by identity: Resource hashes by serialising its attributes to JSON, per call.
    # A provider hands the same Resource and scope objects to all of its spans, so within one
    # process identity groups as equality does (spans of two providers with equal resources
    # would go out as two ResourceSpans, which OTLP receivers merge).
    groups: dict[int, tuple[Any, dict[int, tuple[Any, list[bytes]]]]] = {}
    for span in spans:
        resource = span.resource
        scope = span.instrumentation_scope or None
        scopes = groups.setdefault(id(resource), (resource, {}))[1]
        scopes.setdefault(id(scope), (scope, []))[1].append(
            _field(_SCOPE_SPANS_SPAN, encode_span(span))
        )
    out = []
    for resource, scopes in groups.values():
        body = [_resource(resource)]
        for scope, encoded in scopes.values():
            scope_body = [_scope(scope), *encoded]
            if scope is not None and scope.schema_url:
                scope_body.append(_field(_SCOPE_SPANS_SCHEMA_URL, scope.schema_url.encode()))
            body.append(_field(_RESOURCE_SPANS_SCOPE_SPANS, b"".join(scope_body)))
        if resource.schema_url:
            body.append(_field(_RESOURCE_SPANS_SCHEMA_URL, resource.schema_url.encode()))
        out.append(_field(_REQUEST_RESOURCE_SPANS, b"".join(body)))
    return b"".join(out)


class OtlpGrpcSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/gRPC span exporter with the cached wire encoder above."""

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        # The stub serializes the message it is given; parsing our bytes back is C work in
        # upb and a small fraction of building the message in Python.
        return ExportTraceServiceRequest.FromString(encode_request(data))
