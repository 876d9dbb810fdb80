"""The one telemetry setup: Prometheus metrics, OpenTelemetry tracing, and the guard that keeps
message text out of both.

Metrics
    Module-level ``prometheus_client`` objects in the default registry. Every process may expose
    them with ``start_metrics_server(port)`` (``SOLACE_METRICS_PORT``; 0 = off). Inside Ray Serve
    replicas, call ``export_via_ray()`` once: every observation is then mirrored into
    ``ray.util.metrics`` so Ray's per-node metrics agent serves it (as ``ray_solace_*``) on the
    node's metrics export port — one scrape target per node however many replicas run there.

Tracing
    ``setup_tracing(service)`` installs an SDK tracer provider exporting over OTLP only when the
    standard ``OTEL_*`` variables ask for it (``OTEL_EXPORTER_OTLP_ENDPOINT``,
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_TRACES_EXPORTER=otlp``); otherwise tracing
    stays a no-op. W3C trace context travels in gRPC metadata (``inject_metadata`` /
    ``extract_context``) and, across Ray handles, as the same key/value pairs.

What is never recorded: message text. Span attributes go through ``safe_attributes`` (numbers,
booleans, enum names, ids and short tokens only) and metric labels are fixed vocabularies.

See docs/observability.md for names, labels and how to scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter
from prometheus_client import Counter, Gauge, Histogram

from services.common.errors import SolaceError

log = logging.getLogger("solace.telemetry")

# -- metrics -------------------------------------------------------------------------------------

# Stages take from a fraction of a millisecond (validation) to seconds (an LLM engine): the
# buckets are dense in 0.5–100 ms where the composer pipeline lives, and reach 10 s for vLLM.
STAGE_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128)

_STAGE_HELP = "Wall-clock time of one pipeline stage (stage='total' is the whole request)."
_REQUESTS_HELP = "RPCs answered, by service, RPC and gRPC status code."
_ESCALATIONS_HELP = (
    "Safety-layer interventions, by risk level and kind (escalation, safety_hold, fallback)."
)
_IN_FLIGHT_HELP = "RPCs being handled right now."
_MODEL_INFO_HELP = "The model a service serves (value is always 1)."
_BATCH_HELP = "Requests per model batch, where a service batches."

STAGE_LABELS = ("service", "stage", "method", "engine", "code")
STAGE_SECONDS = Histogram(
    "solace_stage_duration_seconds",
    _STAGE_HELP,
    STAGE_LABELS,
    buckets=STAGE_BUCKETS,
)
REQUESTS_TOTAL = Counter(
    "solace_requests_total",
    _REQUESTS_HELP,
    ("service", "rpc", "code"),
)
ESCALATIONS_TOTAL = Counter(
    "solace_escalations_total",
    _ESCALATIONS_HELP,
    ("level", "kind"),
)
IN_FLIGHT = Gauge(
    "solace_in_flight_requests",
    _IN_FLIGHT_HELP,
    ("service", "rpc"),
    multiprocess_mode="livesum",
)
# A gauge fixed at 1 rather than an Info: Ray's metrics API has no Info type, and the same name
# must work on both export paths.
MODEL_INFO = Gauge(
    "solace_model_info",
    _MODEL_INFO_HELP,
    ("service", "name", "version"),
    multiprocess_mode="max",
)
BATCH_SIZE = Histogram(
    "solace_batch_size",
    _BATCH_HELP,
    ("service", "stage"),
    buckets=BATCH_BUCKETS,
)

#: Every metric family this module defines (the dashboard test checks against these).
METRIC_NAMES: tuple[str, ...] = (
    "solace_stage_duration_seconds",
    "solace_requests_total",
    "solace_escalations_total",
    "solace_in_flight_requests",
    "solace_model_info",
    "solace_batch_size",
)


class _RayMirror:
    """The same metrics as ``ray.util.metrics`` objects, for Ray Serve replicas.

    Ray's agent prefixes them with ``ray_`` and adds its own labels (WorkerId, NodeAddress, ...).
    Gauges in Ray are set, not incremented, so in-flight counts are kept here and set.
    """

    def __init__(self) -> None:
        from ray.util import metrics

        self.stage = metrics.Histogram(
            "solace_stage_duration_seconds",
            _STAGE_HELP,
            boundaries=list(STAGE_BUCKETS),
            tag_keys=STAGE_LABELS,
        )
        self.requests = metrics.Counter(
            "solace_requests_total",
            _REQUESTS_HELP,
            tag_keys=("service", "rpc", "code"),
        )
        self.escalations = metrics.Counter(
            "solace_escalations_total",
            _ESCALATIONS_HELP,
            tag_keys=("level", "kind"),
        )
        self.in_flight = metrics.Gauge(
            "solace_in_flight_requests", _IN_FLIGHT_HELP, tag_keys=("service", "rpc")
        )
        self.model_info = metrics.Gauge(
            "solace_model_info", _MODEL_INFO_HELP, tag_keys=("service", "name", "version")
        )
        self.batch = metrics.Histogram(
            "solace_batch_size",
            _BATCH_HELP,
            boundaries=list(BATCH_BUCKETS),
            tag_keys=("service", "stage"),
        )
        self.in_flight_counts: dict[tuple[str, str], int] = {}


_ray: _RayMirror | None = None
_lock = threading.Lock()
_metrics_port: int | None = None


def export_via_ray() -> bool:
    """Mirror every observation into Ray's metrics agent (call once per Ray Serve replica).

    Returns False, and keeps the process-local registry only, when Ray is not importable.
    """
    global _ray
    with _lock:
        if _ray is None:
            try:
                _ray = _RayMirror()
            except ImportError:
                return False
    return True


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> int | None:
    """Serve ``/metrics`` for this process on ``port``; 0 disables it.

    Idempotent: the first call in a process starts the server, later calls return its port
    (one registry per process, so one endpoint is all a scraper needs).
    """
    global _metrics_port
    if port <= 0:
        return None
    from prometheus_client import start_http_server

    with _lock:
        if _metrics_port is None:
            start_http_server(port, addr=addr)
            _metrics_port = port
            log.info("metrics on :%d/metrics", port)
        return _metrics_port


def observe_stage(
    service: str,
    stage: str,
    seconds: float,
    method: str = "",
    engine: str = "",
    code: str = "OK",
) -> None:
    """Record one stage duration (seconds) in ``solace_stage_duration_seconds``."""
    STAGE_SECONDS.labels(service, stage, method, engine, code).observe(seconds)
    if _ray is not None:
        _ray.stage.observe(
            seconds,
            tags={
                "service": service,
                "stage": stage,
                "method": method,
                "engine": engine,
                "code": code,
            },
        )


def count_request(service: str, rpc: str, code: str = "OK") -> None:
    """Count one answered RPC in ``solace_requests_total``."""
    REQUESTS_TOTAL.labels(service, rpc, code).inc()
    if _ray is not None:
        _ray.requests.inc(tags={"service": service, "rpc": rpc, "code": code})


def record_escalation(level: str, kind: str = "escalation") -> None:
    """Count one safety intervention: ``kind`` is escalation, safety_hold or fallback."""
    ESCALATIONS_TOTAL.labels(level, kind).inc()
    if _ray is not None:
        _ray.escalations.inc(tags={"level": level, "kind": kind})


def set_model_info(service: str, name: str, version: str) -> None:
    """Publish which model (name, version hash) a service serves."""
    MODEL_INFO.labels(service, name, version).set(1)
    if _ray is not None:
        _ray.model_info.set(1, tags={"service": service, "name": name, "version": version})


def observe_batch(service: str, stage: str, size: int) -> None:
    """Record the size of one model batch."""
    BATCH_SIZE.labels(service, stage).observe(size)
    if _ray is not None:
        _ray.batch.observe(size, tags={"service": service, "stage": stage})


def _add_in_flight(service: str, rpc: str, delta: int) -> None:
    IN_FLIGHT.labels(service, rpc).inc(delta)
    if _ray is not None:
        with _lock:
            key = (service, rpc)
            value = _ray.in_flight_counts.get(key, 0) + delta
            _ray.in_flight_counts[key] = value
        _ray.in_flight.set(value, tags={"service": service, "rpc": rpc})


def code_of(exc: BaseException) -> str:
    """The gRPC status code name an exception will be answered with (the table in
    ARCHITECTURE.md), without importing grpc here."""
    if isinstance(exc, SolaceError):
        return exc.status
    if isinstance(exc, TimeoutError):
        return "DEADLINE_EXCEEDED"
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        # The caller went away (cancelled call, stream closed early): not our error.
        return "CANCELLED"
    code = getattr(exc, "code", None)
    if callable(code):
        with contextlib.suppress(Exception):
            return str(getattr(code(), "name", code()))
    return "INTERNAL"


# -- the attribute guard -------------------------------------------------------------------------

# Strings allowed in span attributes: enum names (RISK_LEVEL_HIGH), ids (hex, uuid), and short
# single tokens such as RPC paths or engine names. Anything with spaces is treated as text.
_ENUM = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_ID = re.compile(r"^[0-9a-fA-F-]{8,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.:/\-]{1,80}$")
# Keys whose values are free short tokens (not message content) by construction.
_TOKEN_KEYS = frozenset(
    {
        "rpc.system",
        "rpc.service",
        "rpc.method",
        "rpc.grpc.status_code",
        "solace.service",
        "solace.stage",
        "solace.method",
        "solace.engine",
        "solace.code",
        "solace.request_id",
        "solace.escalation_id",
        "solace.model",
        "solace.model_version",
        "solace.fallback_reason_kind",
    }
)


def _safe_value(key: str, value: Any) -> Any | None:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if _ENUM.match(value) or _ID.match(value):
            return value
        if key in _TOKEN_KEYS and _TOKEN.match(value):
            return value
    return None


def safe_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only numbers, booleans, enum names, ids and (for known keys) short tokens survive.

    The policy in ARCHITECTURE.md: message text never reaches a trace. Anything that could be
    text is dropped here rather than trusted to every call site.
    """
    safe: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        kept = _safe_value(key, value)
        if kept is not None:
            safe[key] = kept
        elif value is not None:
            log.debug("dropped span attribute %s (not a number, enum or id)", key)
    return safe


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
        _add_in_flight(record.service, record.rpc, 1)
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
            _add_in_flight(record.service, record.rpc, -1)
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
