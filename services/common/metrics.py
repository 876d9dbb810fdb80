"""Solace's Prometheus metrics: the module-level ``prometheus_client`` objects (one registry per
process, served by ``start_metrics_server``), their mirror into Ray's metrics agent inside Serve
replicas (``export_via_ray``), and the functions that observe them. Labels are fixed
vocabularies, never message text. Names and labels: docs/observability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

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


def add_in_flight(service: str, rpc: str, delta: int) -> None:
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
