"""The one telemetry surface the services use (``from services.common import telemetry``):
Prometheus metrics, OpenTelemetry tracing, and the guard that keeps message text out of both.
Each lives in a module of its own; this one names them together.

- ``services.common.metrics``: module-level ``prometheus_client`` objects in the default
  registry, ``start_metrics_server(port)`` (``SOLACE_METRICS_PORT``; 0 = off), and inside Ray
  Serve replicas ``export_via_ray()``, which mirrors every observation into ``ray.util.metrics``
  so Ray's per-node agent serves it (as ``ray_solace_*``): one scrape target per node.
- ``services.common.tracing``: ``setup_tracing(service)`` exports over OTLP only when the
  standard ``OTEL_*`` variables ask for it, else tracing is a no-op; W3C trace context in gRPC
  metadata (``inject_metadata`` / ``extract_context``) and across Ray handles; the ``stage``,
  ``server_call`` and ``client_call`` records that time, count and trace one stage or RPC.
- ``services.common.privacy``: ``safe_attributes``, through which every span attribute passes
  (numbers, booleans, enum names, ids and short tokens only); metric labels are fixed
  vocabularies.

What is never recorded: message text. See docs/observability.md for names, labels and scraping.
"""

from __future__ import annotations

from services.common.metrics import (
    BATCH_BUCKETS,
    BATCH_SIZE,
    ESCALATIONS_TOTAL,
    IN_FLIGHT,
    METRIC_NAMES,
    MODEL_INFO,
    REQUESTS_TOTAL,
    STAGE_BUCKETS,
    STAGE_LABELS,
    STAGE_SECONDS,
    add_in_flight,
    code_of,
    count_request,
    export_via_ray,
    observe_batch,
    observe_stage,
    record_escalation,
    set_model_info,
    start_metrics_server,
)
from services.common.privacy import (
    safe_attributes,
)
from services.common.tracing import (
    CallRecord,
    StageRecord,
    client_call,
    current_trace_id,
    extract_context,
    force_flush,
    inject_metadata,
    server_call,
    setup_tracing,
    shutdown_tracing,
    span,
    stage,
    tracer,
    tracing_enabled,
    tracing_requested,
)

__all__ = [
    "BATCH_BUCKETS",
    "BATCH_SIZE",
    "ESCALATIONS_TOTAL",
    "IN_FLIGHT",
    "METRIC_NAMES",
    "MODEL_INFO",
    "REQUESTS_TOTAL",
    "STAGE_BUCKETS",
    "STAGE_LABELS",
    "STAGE_SECONDS",
    "CallRecord",
    "StageRecord",
    "add_in_flight",
    "client_call",
    "code_of",
    "count_request",
    "current_trace_id",
    "export_via_ray",
    "extract_context",
    "force_flush",
    "inject_metadata",
    "observe_batch",
    "observe_stage",
    "record_escalation",
    "safe_attributes",
    "server_call",
    "set_model_info",
    "setup_tracing",
    "shutdown_tracing",
    "span",
    "stage",
    "start_metrics_server",
    "tracer",
    "tracing_enabled",
    "tracing_requested",
]
