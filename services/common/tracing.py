"""OpenTelemetry tracing, and the call records that time, count and trace a stage or an RPC.

``setup_tracing(service)`` installs an SDK tracer provider exporting over OTLP only when the
standard ``OTEL_*`` variables ask for it (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_TRACES_EXPORTER=otlp``); otherwise tracing stays
a no-op. W3C trace context travels in gRPC metadata (``inject_metadata`` / ``extract_context``)
and, across Ray handles, as the same key/value pairs. ``stage``, ``server_call`` and
``client_call`` record a span (attributes through ``services.common.privacy``) and the metrics of
``services.common.metrics`` together.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter

from services.common.metrics import add_in_flight, code_of, count_request, observe_stage
from services.common.privacy import safe_attributes

log = logging.getLogger("solace.telemetry")

# -- tracing -------------------------------------------------------------------------------------

_provider: Any = None  # the SDK TracerProvider when tracing is on, else None
# Its tracer, fetched once: the SDK's get_tracer builds a new Tracer (scope, config look-up,
# warnings filter) on every call, which cost more than the span itself.
_tracer: Any = None
_service_name = ""
_TRACER_NAME = "solace"
# True when the provider's sampler never samples a child of an unsampled parent (the
# ``parentbased_*`` samplers of OTEL_TRACES_SAMPLER, and the SDK's default): ``_open`` then skips
# such children.
_unsampled_children_dropped = False
_PARENT_BASED_DROPS = (
    "remoteParentNotSampled:AlwaysOffSampler",
    "localParentNotSampled:AlwaysOffSampler",
)


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when the standard OTEL_* variables ask for trace export (off by default)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return "otlp" in {e.strip() for e in exporter.split(",")}
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _otlp_exporter(environ: Mapping[str, str]) -> Any:
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    )
    traces_endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    # Headers, certificates, compression and timeouts come from the OTEL_EXPORTER_OTLP_*
    # variables as the exporters read them; the endpoint is passed explicitly so that a
    # caller-supplied ``environ`` (tests, benchmarks) is honoured too.
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        if not traces_endpoint and endpoint:
            traces_endpoint = endpoint.rstrip("/") + "/v1/traces"
        return OTLPSpanExporter(endpoint=traces_endpoint)
    from services.common.otlp_wire import OtlpGrpcSpanExporter

    insecure = environ.get("OTEL_EXPORTER_OTLP_TRACES_INSECURE") or environ.get(
        "OTEL_EXPORTER_OTLP_INSECURE"
    )
    # The SDK's gRPC exporter with Solace's cached encoder (otlp_wire: a third of the cost).
    return OtlpGrpcSpanExporter(
        endpoint=traces_endpoint or endpoint,
        insecure=None if insecure is None else insecure.strip().lower() == "true",
    )


def setup_tracing(
    service_name: str,
    exporter: Any = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Install tracing for this process; returns True when spans are exported.

    With no ``exporter`` this is a no-op unless ``tracing_requested()``; then spans go through a
    BatchSpanProcessor to the OTLP exporter the OTEL_* variables describe (``OTEL_SERVICE_NAME``
    overrides ``service_name``). Passing an ``exporter`` (tests) always installs it, with a
    synchronous processor so spans are visible as soon as they end. Safe to call again: later
    calls without an exporter keep the first setup.
    """
    global _provider, _tracer, _service_name, _unsampled_children_dropped
    env = os.environ if environ is None else environ
    if exporter is None and (_provider is not None or not tracing_requested(env)):
        return _provider is not None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    name = env.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    if exporter is None:
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(env)))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous, _provider, _service_name = _provider, provider, name
    _tracer = provider.get_tracer(_TRACER_NAME)
    description = provider.sampler.get_description()
    _unsampled_children_dropped = description.startswith("ParentBased{") and all(
        part in description for part in _PARENT_BASED_DROPS
    )
    if previous is not None:
        previous.shutdown()
    else:
        # The global provider can be set once per process; libraries that trace through the
        # global API then join our traces. Our own spans always use ``_provider``.
        trace.set_tracer_provider(provider)
    log.info("tracing on: exporting spans of %s", name)
    return True


def shutdown_tracing() -> None:
    """Flush and stop the exporter (call on graceful stop so the last spans are not lost)."""
    global _provider, _tracer
    if _provider is not None:
        _tracer = None
        _provider.shutdown()
        _provider = None


def force_flush(timeout_ms: int = 5000) -> None:
    """Export every finished span now."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


def tracing_enabled() -> bool:
    return _provider is not None


def tracer() -> trace.Tracer:
    """Solace's tracer: the SDK one when tracing is on, otherwise a no-op tracer."""
    if _tracer is not None:
        return _tracer
    return trace.NoOpTracer()


class _ListSetter(Setter[list]):
    def set(self, carrier: list, key: str, value: str) -> None:
        carrier.append((key, value))


class _PairsGetter(Getter[Any]):
    """Reads gRPC metadata (a sequence of (key, value) pairs, keys lower-case) or a dict."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        if isinstance(carrier, Mapping):
            value = carrier.get(key)
            return None if value is None else [str(value)]
        values = [
            v.decode() if isinstance(v, bytes) else str(v)
            for k, v in carrier
            if k.lower() == key and not k.endswith("-bin")
        ]
        return values or None

    def keys(self, carrier: Any) -> list[str]:
        if isinstance(carrier, Mapping):
            return list(carrier)
        return [k for k, _ in carrier]


_SETTER = _ListSetter()
_GETTER = _PairsGetter()


def inject_metadata(metadata: Sequence[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """``metadata`` plus the current W3C trace context (traceparent, tracestate) for a gRPC call
    or a Ray handle call. Adds nothing when no span is active or tracing is off."""
    carrier = list(metadata or [])
    span = trace.get_current_span()
    if span.get_span_context().is_valid:
        propagate.inject(carrier, setter=_SETTER)
    return carrier


def extract_context(metadata: Any) -> otel_context.Context:
    """The trace context a caller sent in gRPC metadata (pairs) or a dict; empty when none."""
    if not metadata:
        return otel_context.Context()
    return propagate.extract(metadata, getter=_GETTER, context=otel_context.Context())


def current_trace_id() -> str:
    """Hex W3C trace id of the current span; "" when tracing is off or the span is unsampled."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid or not span_context.trace_flags.sampled:
        return ""
    return trace.format_trace_id(span_context.trace_id)


# The span helpers below sit on every request's path (about ten spans per Support request), so
# they call the SDK directly: one ``start_span`` and one context attach per span, attributes of
# the fixed spans checked by ``safe_attributes`` once per process rather than once per span, and
# plain classes instead of stacked generator-based context managers.

# The RPC whose CLIENT span the current stage already is (``stage(..., rpc=...)``), so that
# ``client_call`` for it adds no second span. Context-local: concurrent requests never mix.
_STAGE_RPC: contextvars.ContextVar[str] = contextvars.ContextVar("solace_stage_rpc", default="")

_INTERNAL, _SERVER, _CLIENT = trace.SpanKind.INTERNAL, trace.SpanKind.SERVER, trace.SpanKind.CLIENT


def _open(
    name: str,
    kind: trace.SpanKind,
    attributes: Mapping[str, Any],
    context: otel_context.Context | None = None,
) -> tuple[Any, object]:
    """Start a span (child of ``context``, else of the current span) and make it current;
    returns the span and the token that ``_close`` detaches. Tracing must be on.

    Under a parent-based sampler a child of an unsampled, non-recording span is never sampled,
    so no span is made for it: the parent stays the current span (its context is what goes
    downstream, marked unsampled) and ``_close`` has nothing to end. That is most requests
    once head sampling traces a fraction, and each such span cost about as much to create as a
    third of a recorded one."""
    if _unsampled_children_dropped:
        parent = trace.get_current_span(context)
        if not parent.is_recording():
            parent_context = parent.get_span_context()
            if parent_context.is_valid and not parent_context.trace_flags.sampled:
                return parent, None if context is None else otel_context.attach(context)
    current = _tracer.start_span(
        name,
        context=context,
        kind=kind,
        attributes=attributes,
        record_exception=False,  # exception messages may quote the request; keep only the code
        set_status_on_exception=False,
    )
    return current, otel_context.attach(trace.set_span_in_context(current))


def _close(current: Any, token: object, exc: BaseException | None) -> None:
    """Mark the span with the status code of an escaping exception, restore the previous
    context, end the span."""
    if not current.is_recording():  # an unsampled parent kept by ``_open``: nothing to end
        if token is not None:
            otel_context.detach(token)
        return
    if exc is not None:
        code = code_of(exc)
        current.set_attribute("solace.code", code)
        current.set_status(trace.Status(trace.StatusCode.ERROR, code))
    otel_context.detach(token)
    current.end()


def _split_rpc(rpc: str) -> tuple[str, str]:
    service, _, method = rpc.strip("/").rpartition("/")
    return service, method


# The fixed attributes of stage and RPC spans, through ``safe_attributes`` once per distinct
# stage or RPC. Read-only: the SDK copies attributes into each span and must never alter these.


@functools.lru_cache(maxsize=1024)
def _stage_attributes(service: str, name: str) -> Mapping[str, Any]:
    return MappingProxyType(safe_attributes({"solace.stage": name, "solace.service": service}))


@functools.lru_cache(maxsize=1024)
def _rpc_attributes(rpc: str, service: str = "") -> Mapping[str, Any]:
    """Client spans: rpc.*; server spans (``service`` given): rpc.* and solace.service."""
    rpc_service, rpc_method = _split_rpc(rpc)
    attributes = {"rpc.system": "grpc", "rpc.service": rpc_service, "rpc.method": rpc_method}
    if service:
        attributes["solace.service"] = service
    return MappingProxyType(safe_attributes(attributes))


@functools.lru_cache(maxsize=1024)
def _rpc_stage_attributes(rpc: str, service: str, name: str) -> Mapping[str, Any]:
    """A stage that is one RPC: the client span's rpc.* plus the stage's own attributes."""
    return MappingProxyType({**_rpc_attributes(rpc), **_stage_attributes(service, name)})


@functools.lru_cache(maxsize=1024)
def _late_stage_attributes(code: str, method: str, engine: str) -> Mapping[str, Any]:
    """What a stage span learns at its end (status code, method, engine), vetted once per
    distinct combination: codes, methods and engines are closed vocabularies."""
    late = {"solace.code": code}
    if method:
        late["solace.method"] = method
    if engine:
        late["solace.engine"] = engine
    return MappingProxyType(safe_attributes(late))


@contextlib.contextmanager
def span(
    name: str,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    context: otel_context.Context | None = None,
) -> Iterator[trace.Span]:
    """A span with guarded attributes; records the status code of an escaping exception."""
    if _tracer is None:
        # Tracing off: skip context attach and attribute checks, the hot path stays cheap.
        yield trace.INVALID_SPAN
        return
    current, token = _open(name, kind, safe_attributes(attributes), context)
    error: BaseException | None = None
    try:
        yield current
    except BaseException as exc:
        error = exc
        raise
    finally:
        _close(current, token, error)


@dataclass
class StageRecord:
    """What a ``stage`` block reports; fields may be set inside the block (the engine, for
    instance, is known only once generation has answered)."""

    service: str
    stage: str
    method: str = ""
    engine: str = ""
    code: str = "OK"
    seconds: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)


class stage:  # lower case: used like a function, ``with telemetry.stage(...) as record``
    """Time one pipeline stage: a span named after the stage plus one histogram observation
    (with the status code of an escaping exception).

    ``rpc``: the stage is exactly one call to a service (risk screening, generation), so its
    span is that call's CLIENT span, named after the RPC and carrying both the stage's and the
    RPC's attributes; a ``client_call`` for that RPC inside the block opens no span of its own,
    it only injects this span's context. One span instead of two nested ones that cover the
    same interval. ``span=False``: the histogram only, for a stage that merely groups calls
    with spans of their own (the concurrent defense and strategy calls)."""

    __slots__ = ("_record", "_rpc", "_rpc_token", "_span", "_start", "_token", "_traced")

    def __init__(
        self,
        service: str,
        name: str,
        method: str = "",
        engine: str = "",
        *,
        rpc: str = "",
        span: bool = True,
    ) -> None:
        self._record = StageRecord(service, name, method, engine)
        self._rpc = rpc
        self._traced = span
        self._span: Any = None
        self._rpc_token: Any = None

    def __enter__(self) -> StageRecord:
        record = self._record
        self._start = time.perf_counter()
        if _tracer is not None and self._traced:
            if self._rpc:
                self._span, self._token = _open(
                    self._rpc.strip("/"),
                    _CLIENT,
                    _rpc_stage_attributes(self._rpc, record.service, record.stage),
                )
                self._rpc_token = _STAGE_RPC.set(self._rpc)
            else:
                self._span, self._token = _open(
                    record.stage,
                    _INTERNAL,
                    _stage_attributes(record.service, record.stage),
                )
        return record

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        record = self._record
        record.seconds = time.perf_counter() - self._start
        if exc is not None and record.code == "OK":
            record.code = code_of(exc)
        observe_stage(
            record.service, record.stage, record.seconds, record.method, record.engine, record.code
        )
        if self._span is not None:
            if self._rpc_token is not None:
                _STAGE_RPC.reset(self._rpc_token)
            if self._span.is_recording():
                late = _late_stage_attributes(record.code, record.method, record.engine)
                if record.attributes:
                    late = {**late, **safe_attributes(record.attributes)}
                self._span.set_attributes(late)
                if record.code != "OK":
                    # A code the block set without raising (a dependency down, handled by the
                    # safety policy) still marks the span, as a failed call's client span would.
                    self._span.set_status(trace.Status(trace.StatusCode.ERROR, record.code))
            _close(self._span, self._token, exc)


@dataclass
class CallRecord:
    """What a ``server_call`` block reports; set ``code`` when the handler answers with a status
    without raising (the Ray Serve ingress sets codes on its context)."""

    service: str
    rpc: str
    code: str = "OK"
    trace_id: str = ""
    method: str = ""
    engine: str = ""


class server_call:  # lower case: used like a function, ``with telemetry.server_call(...)``
    """Handle one incoming RPC (``rpc`` like "solace.v1.Support/Respond"): continue the caller's
    trace from ``metadata``, open a SERVER span, count it in flight, then count it by status
    code and observe its duration as stage "total".

    ``span=False``: the counts and duration only, for a service called in the caller's own
    process (the colocated topology), where nothing crossed a process and the caller's span
    already covers the call: a second span over the same interval would only add cost."""

    __slots__ = ("_attributes", "_metadata", "_record", "_span", "_start", "_token", "_traced")

    def __init__(
        self,
        service: str,
        rpc: str,
        metadata: Any = None,
        attributes: Mapping[str, Any] | None = None,
        *,
        span: bool = True,
    ) -> None:
        self._record = CallRecord(service, rpc)
        self._metadata = metadata
        self._attributes = attributes
        self._traced = span
        self._span: Any = None

    def __enter__(self) -> CallRecord:
        record = self._record
        self._start = time.perf_counter()
        add_in_flight(record.service, record.rpc, 1)
        if _tracer is not None and self._traced:
            attributes = _rpc_attributes(record.rpc, record.service)
            if self._attributes:
                attributes = {**attributes, **safe_attributes(self._attributes)}
            self._span, self._token = _open(
                record.rpc.strip("/"), _SERVER, attributes, extract_context(self._metadata)
            )
            record.trace_id = current_trace_id()
        return record

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        record = self._record
        try:
            # A code the handler set (before aborting) wins over the exception's.
            if exc is not None and record.code == "OK":
                record.code = code_of(exc)
            if self._span is not None:
                if self._span.is_recording():
                    self._span.set_attribute("rpc.grpc.status_code", record.code)
                    if record.code != "OK":
                        self._span.set_status(trace.Status(trace.StatusCode.ERROR, record.code))
                _close(self._span, self._token, exc)
        finally:
            add_in_flight(record.service, record.rpc, -1)
            count_request(record.service, record.rpc, record.code)
            observe_stage(
                record.service,
                "total",
                time.perf_counter() - self._start,
                record.method,
                record.engine,
                record.code,
            )


class client_call:  # lower case: used like a function, ``with telemetry.client_call(...)``
    """Open a CLIENT span for an outgoing call and yield the metadata to send with it
    (``metadata`` plus traceparent). Works for gRPC stubs and for Ray handle calls. Inside a
    ``stage(..., rpc=rpc)`` for the same RPC, the stage's span is the call's span: no new one."""

    __slots__ = ("_metadata", "_rpc", "_span", "_token")

    def __init__(self, rpc: str, metadata: Sequence[tuple[str, str]] | None = None) -> None:
        self._rpc = rpc
        self._metadata = metadata
        self._span: Any = None

    def __enter__(self) -> list[tuple[str, str]]:
        if _tracer is None:
            return list(self._metadata or [])
        if _STAGE_RPC.get() != self._rpc:
            self._span, self._token = _open(
                self._rpc.strip("/"), _CLIENT, _rpc_attributes(self._rpc)
            )
        return inject_metadata(self._metadata)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._span is not None:
            _close(self._span, self._token, exc)
