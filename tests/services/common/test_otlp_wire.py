"""The cached OTLP encoder sends what the OpenTelemetry exporter's own encoder would send.

Equality is checked on the decoded ``ExportTraceServiceRequest`` messages, so field order and
encoding choices do not matter, only content: ids, parents, times, names, kinds, attributes of
every type the SDK admits, statuses, trace state, flags, events and links.
"""

from __future__ import annotations

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState

from services.common import otlp_wire


def _provider(**resource: str) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "solace-test", **resource}),
        span_limits=SpanLimits(max_span_attributes=6),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _spans() -> list:
    provider, exporter = _provider()
    tracer = provider.get_tracer("solace", "1.2.3", schema_url="https://opentelemetry.io/s/1")
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "abc"), ("other", "x-1")]),
    )
    parent = trace.set_span_in_context(NonRecordingSpan(remote), otel_context.Context())
    with tracer.start_as_current_span(
        "solace.v1.Support/Respond",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "solace.service": "router"},
    ) as server:
        with tracer.start_as_current_span("risk", attributes={"solace.stage": "risk"}) as stage:
            stage.set_attributes(
                {
                    "solace.code": "OK",
                    "solace.retries": 0,
                    "solace.negative": -7,
                    "solace.score": 0.25,
                    "solace.flag": True,
                    "solace.levels": ("RISK_LEVEL_LOW", "RISK_LEVEL_HIGH"),
                    "solace.counts": [1, 2, 3],  # over the limit of 6: counted as dropped
                }
            )
            with tracer.start_as_current_span("RiskScreening/Screen", kind=SpanKind.CLIENT):
                pass
        with tracer.start_as_current_span("generation") as failed:
            failed.set_status(trace.Status(trace.StatusCode.ERROR, "UNAVAILABLE"))
        with tracer.start_as_current_span(
            "annotate", links=[trace.Link(remote, {"solace.kind": "retry"})]
        ) as with_event:
            with_event.add_event("fallback", {"solace.code": "DEADLINE_EXCEEDED"})
        server.set_status(trace.Status(trace.StatusCode.OK))
    with tracer.start_as_current_span("root", kind=SpanKind.PRODUCER):
        pass
    other = provider.get_tracer("other-library")
    with other.start_as_current_span("consumer", kind=SpanKind.CONSUMER):
        pass
    return list(exporter.get_finished_spans())


def test_the_cached_encoder_matches_the_standard_encoder_span_for_span():
    spans = _spans()
    assert len(spans) == 7
    # Twice: the second pass encodes from the attribute, resource and scope caches.
    for _ in range(2):
        ours = ExportTraceServiceRequest.FromString(otlp_wire.encode_request(spans))
        assert ours == encode_spans(spans)
    risk = next(s for s in ours.resource_spans[0].scope_spans[0].spans if s.name == "risk")
    assert risk.dropped_attributes_count == 2
    assert ours.resource_spans[0].scope_spans[0].scope.version == "1.2.3"


def test_an_empty_batch_and_a_batch_from_two_providers():
    assert otlp_wire.encode_request([]) == b""
    first = _spans()
    provider, exporter = _provider(**{"deployment.environment": "test"})
    with provider.get_tracer("solace").start_as_current_span("validation"):
        pass
    second = list(exporter.get_finished_spans())
    ours = ExportTraceServiceRequest.FromString(otlp_wire.encode_request(first + second))
    assert ours == encode_spans(first + second)
    assert len(ours.resource_spans) == 2


def test_an_attribute_value_with_no_otlp_encoding_is_refused():
    with pytest.raises(TypeError, match="object"):
        otlp_wire._any_value(object())
