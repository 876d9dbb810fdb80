"""Load benchmark of Support through Ray Serve: starts the platform on free ports, runs the locust
load test (``loadtests/``, mix scenario) headless at 1, 8 and 32 users, then 8 users again with
tracing on (spans exported over OTLP to a receiver in this process) to measure instrumentation
overhead, and writes ``docs/benchmarks.md`` plus ``docs/benchmarks-stages.png``.

Run with ``solace bench load`` once the lead wires it in, or directly:
``python -m solace.benchmarks.load [--run-time 25s] [--users 1,8,32]``.

Locust runs as a subprocess (``python -m loadtests.run``): it monkey-patches the stdlib with
gevent and must not share a process with the grpc this driver has loaded. Figures, not
assertions: the machines are shared, so compare numbers measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# "annotate" is the wall time of defense and strategy called together; "audit" only happens on
# escalations and holds.
STAGE_ORDER = (
    "validation",
    "risk",
    "annotate",
    "defense",
    "strategy",
    "generation",
    "output_screening",
    "audit",
)
TARGETS = "at 8 users: >= 100 req/s, p99 <= 150 ms, zero unexpected errors; overhead <= 5% on p50"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OtlpTraceSink:
    """A real OTLP/gRPC trace receiver in this process: collects every exported span.

    Used by the overhead measurement here and by the tracing tests (an exporter that talks to a
    real receiver over the network, as in production, rather than an in-memory stand-in).
    """

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []  # (service.name, opentelemetry Span proto)
        self._lock = threading.Lock()
        self._server: Any = None
        self.port = 0

    def start(self) -> int:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import (
            trace_service_pb2,
            trace_service_pb2_grpc,
        )

        sink = self

        class _Receiver(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                with sink._lock:
                    for resource_spans in request.resource_spans:
                        service = next(
                            (
                                a.value.string_value
                                for a in resource_spans.resource.attributes
                                if a.key == "service.name"
                            ),
                            "",
                        )
                        for scope_spans in resource_spans.scope_spans:
                            sink.spans.extend((service, s) for s in scope_spans.spans)
                return trace_service_pb2.ExportTraceServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Receiver(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self.port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def trace(self, trace_id_hex: str) -> list[tuple[str, Any]]:
        """The spans received for one trace."""
        with self._lock:
            return [(svc, s) for svc, s in self.spans if s.trace_id.hex() == trace_id_hex]

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.spans)):
                    return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(None)


@dataclass
class LoadPoint:
    """One locust run's figures (ms, req/s) and the server-reported per-stage p50s."""

    label: str
    users: int
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    stages_p50: dict[str, float] = field(default_factory=dict)
    #: Spans the OTLP receiver got during a traced run (None: tracing was off).
    spans: int | None = None


def run_load(
    host: str, users: int, run_time: str, out: Path, scenario: str = "mix", label: str = ""
) -> LoadPoint:
    """``python -m loadtests.run`` as a subprocess; reads its summary and stage files."""
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "loadtests.run",
        "--host",
        host,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        run_time,
        "--scenario",
        scenario,
        "--out",
        str(out),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if not (out / "summary.json").exists():
        raise RuntimeError(f"the load test wrote no summary:\n{result.stdout}\n{result.stderr}")
    return read_point(out, users, label)


def read_point(out: Path, users: int, label: str = "") -> LoadPoint:
    """A LoadPoint from the files ``loadtests.run`` wrote into ``out``."""
    summary = json.loads((out / "summary.json").read_text())
    stages_file = out / "stages.json"
    stages = json.loads(stages_file.read_text())["stages_ms"] if stages_file.exists() else {}
    return LoadPoint(
        label=label or f"{users} users",
        users=users,
        requests=summary["requests"],
        failures=summary["failures"],
        rps=summary["rps"],
        p50=summary["p50"],
        p95=summary["p95"],
        p99=summary["p99"],
        stages_p50={name: values["p50"] for name, values in stages.items()},
    )


def _with_platform(settings: Settings, env: dict[str, str], work: Any) -> Any:
    """Start the platform with ``env`` set (Ray workers inherit it), run ``work(host)``, stop."""
    from solace.platform import start_platform, stop_platform

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = settings.with_overrides(grpc_port=_free_port(), http_port=_free_port())
    try:
        start_platform(settings)
        host = f"127.0.0.1:{settings.grpc_port}"
        _wait_serving(host)
        return work(host)
    finally:
        stop_platform()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _wait_serving(host: str, timeout: float = 90.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(host) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise RuntimeError(f"Support at {host} did not become SERVING within {timeout:.0f} s")


def instrumentation_cost_us(requests: int = 2000) -> tuple[float, float]:
    """Microseconds of telemetry work per Support request, tracing off and on.

    Replays what the instrumented pipeline does for one request (a server span, seven stages,
    four client calls with metadata injection, the matching server spans in the services) with
    no work inside, so the figure is the instrumentation alone. Tracing on exports every span
    over OTLP/gRPC to a receiver in this process (BatchSpanProcessor, as in production).
    """
    from services.common import telemetry

    def one_request() -> None:
        with telemetry.server_call("router", "solace.v1.Support/Respond", []):
            with telemetry.stage("router", "validation"):
                pass
            for stage, rpcs in (
                ("risk", ("solace.v1.RiskScreening/Screen",)),
                (
                    "annotate",
                    ("solace.v1.DefenseClassifier/Classify", "solace.v1.StrategyPredictor/Predict"),
                ),
                ("generation", ("solace.v1.Generator/Generate",)),
            ):
                with telemetry.stage("router", stage):
                    for rpc in rpcs:
                        with telemetry.client_call(rpc) as metadata:
                            service = rpc.split(".")[2].split("/")[0].lower()
                            with telemetry.server_call(service, rpc, metadata):
                                pass
            with telemetry.stage("router", "output_screening"):
                pass

    def timed() -> float:
        for _ in range(100):
            one_request()
        start = time.perf_counter()
        for _ in range(requests):
            one_request()
        return (time.perf_counter() - start) / requests * 1e6

    telemetry.shutdown_tracing()
    off = timed()
    sink = OtlpTraceSink()
    sink.start()
    try:
        telemetry.setup_tracing(
            "solace-bench",
            environ={"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint},
        )
        on = timed()
        telemetry.shutdown_tracing()
    finally:
        sink.stop()
    return off, on


def _stage_columns(points: Sequence[LoadPoint]) -> list[str]:
    seen = {name for p in points for name in p.stages_p50}
    return [s for s in STAGE_ORDER if s in seen] + sorted(seen - set(STAGE_ORDER) - {"total"})


def write_plot(points: Sequence[LoadPoint], path: Path) -> None:
    """Per-stage p50 (server-reported) and client p50/p99 against users, one PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    stages = _stage_columns(points)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = [p.label for p in points]
    width = 0.8 / max(len(stages), 1)
    for i, stage in enumerate(stages):
        left.bar(
            [x + i * width for x in range(len(points))],
            [p.stages_p50.get(stage, 0.0) for p in points],
            width=width,
            label=stage,
        )
    left.set_xticks([x + 0.4 - width / 2 for x in range(len(points))], labels)
    left.set_ylabel("server-reported p50 per stage (ms)")
    left.set_title("Per-stage latency")
    left.legend(fontsize=8)
    left.tick_params(axis="x", labelrotation=15)
    right.plot(labels, [p.p50 for p in points], marker="o", label="p50")
    right.plot(labels, [p.p95 for p in points], marker="o", label="p95")
    right.plot(labels, [p.p99 for p in points], marker="o", label="p99")
    right.axhline(150, color="grey", linestyle="--", linewidth=1, label="p99 target (8 users)")
    right.set_yscale("log")  # 1 to 32 users spans two orders of magnitude
    right.set_ylabel("client-observed latency (ms, log scale)")
    right.set_title("Support/Respond, mix scenario")
    right.legend(fontsize=8)
    right.tick_params(axis="x", labelrotation=15)
    fig.suptitle(f"Solace load benchmark — {platform.node()}, {time.strftime('%Y-%m-%d')}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_report(
    points: Sequence[LoadPoint],
    traced: LoadPoint | None,
    run_time: str,
    plot_name: str,
    cost_us: tuple[float, float] | None = None,
) -> str:
    stages = _stage_columns([*points, *([traced] if traced else [])])
    header = ["users", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures"] + [
        f"{s} p50" for s in stages
    ]
    lines = [
        "# Benchmarks: Support under load",
        "",
        f"Machine: `{platform.node()}`, {os.cpu_count()} CPUs ({platform.machine()}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}). "
        f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        "",
        f"Setup: `solace serve` (Ray Serve, composer engine, one replica per deployment) on the "
        f"same machine as locust; `loadtests/` mix scenario (everyday 16 : stream 4 : crisis 1 : "
        f"bad input 1), closed loop with no think time, {run_time} per row. Latency is "
        "client-observed (locust); per-stage columns are the server-reported p50 (ms) of "
        "`RespondResponse.timings`. Produced by `python -m solace.benchmarks.load`.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for p in [*points, *([traced] if traced else [])]:
        row = [
            p.label,
            f"{p.rps:.1f}",
            f"{p.p50:.0f}",
            f"{p.p95:.0f}",
            f"{p.p99:.0f}",
            str(p.failures),
        ] + [f"{p.stages_p50[s]:.2f}" if s in p.stages_p50 else "-" for s in stages]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"![Per-stage latency]({plot_name})", "", "## Against the targets", ""]
    lines.append(f"Targets ({TARGETS}).")
    lines.append("")
    at8 = next((p for p in points if p.users == 8), None)
    if at8 is not None:
        verdict = "met" if at8.rps >= 100 and at8.p99 <= 150 and at8.failures == 0 else "NOT met"
        lines.append(
            f"- 8 users: {at8.rps:.1f} req/s, p99 {at8.p99:.0f} ms, {at8.failures} failures "
            f"— {verdict}."
        )
    if at8 is not None and traced is not None and at8.p50 > 0:
        overhead = (traced.p50 - at8.p50) / at8.p50 * 100
        if traced.spans:
            lines.append(
                f"- Tracing overhead on p50 (8 users, OTLP export of {traced.spans} spans to a "
                f"local receiver vs tracing off): {at8.p50:.0f} ms → {traced.p50:.0f} ms "
                f"({overhead:+.1f}%) — {'met' if overhead <= 5 else 'NOT met'}. Locust reports "
                "p50 in steps of 10 ms at this scale; metrics are on in both rows."
            )
        else:
            lines.append(
                f"- Tracing overhead under load: not measurable yet — no span reached the "
                f"receiver (the router and deployments do not call `services.common.telemetry` "
                f"yet), so the traced row ran the same code as the 8-user row; their p50 "
                f"difference ({at8.p50:.0f} → {traced.p50:.0f} ms, {overhead:+.1f}%) is this "
                "machine's run-to-run noise."
            )
    if at8 is not None and cost_us is not None:
        off, on = cost_us
        lines.append(
            f"- Instrumentation alone, measured in-process (`instrumentation_cost_us`: one "
            f"request's spans, stages and metrics with no work inside): {off:.0f} µs per "
            f"request with tracing off (metrics only), {on:.0f} µs with tracing on and OTLP "
            f"export — {on / 1000 / at8.p50 * 100:.1f}% of the 8-user p50 with tracing on."
        )
    lines += [
        "",
        "Locust itself shares the 2 cores with Ray and the five replicas, so these are lower "
        "bounds on what the platform alone would do.",
        "",
    ]
    return "\n".join(lines)


def run(
    settings: Settings,
    users: Sequence[int] = (1, 8, 32),
    run_time: str = "20s",
    with_tracing: bool = True,
    docs_dir: Path = DOCS,
) -> str:
    """Run the benchmark, write the report and plot under ``docs_dir``; returns the report."""
    work_dir = Path(tempfile.mkdtemp(prefix="solace-load-"))
    # Tracing off for the main rows, explicitly, whatever the caller's environment says.
    off = {"OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"}

    def sweep(host: str) -> list[LoadPoint]:
        # A short warm-up so the first row does not pay for lazy model loading.
        run_load(host, 2, "3s", work_dir / "warmup")
        return [run_load(host, n, run_time, work_dir / f"u{n}") for n in users]

    points = _with_platform(settings, off, sweep)
    traced = None
    if with_tracing:
        sink = OtlpTraceSink()
        sink.start()
        on = {
            "OTEL_SDK_DISABLED": "false",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }
        try:
            traced = _with_platform(
                settings,
                on,
                lambda host: (
                    run_load(host, 2, "3s", work_dir / "warmup-traced"),
                    run_load(host, 8, run_time, work_dir / "u8-traced", label="8 users, traced"),
                )[1],
            )
            traced_spans = len(sink.spans)
        finally:
            sink.stop()
        traced.spans = traced_spans
    cost_us = instrumentation_cost_us() if with_tracing else None
    plot = docs_dir / "benchmarks-stages.png"
    write_plot([*points, *([traced] if traced else [])], plot)
    report = render_report(points, traced, run_time, plot.name, cost_us)
    (docs_dir / "benchmarks.md").write_text(report)
    return report


def smoke(settings: Settings, users: int = 4, run_time: str = "20s") -> int:
    """CI smoke: the platform on free ports, the mix scenario briefly; non-zero on any
    unexpected answer (reports stay in a temporary folder, printed at the end)."""
    out = Path(tempfile.mkdtemp(prefix="solace-smoke-"))
    point = _with_platform(settings, {}, lambda host: run_load(host, users, run_time, out))
    print(
        f"smoke: {point.requests} requests, {point.failures} failures, {point.rps:.1f} req/s, "
        f"p50 {point.p50:.0f} ms, p99 {point.p99:.0f} ms (reports in {out})"
    )
    return 1 if point.failures or point.requests == 0 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1,8,32", help="comma-separated user counts")
    parser.add_argument("--run-time", default="20s")
    parser.add_argument("--no-tracing", action="store_true", help="skip the traced 8-user row")
    parser.add_argument(
        "--smoke", action="store_true", help="CI smoke: 4 users, mix, fail on any error"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.smoke:
        return smoke(load_settings(), run_time=args.run_time)
    print(
        run(
            load_settings(),
            users=[int(u) for u in args.users.split(",")],
            run_time=args.run_time,
            with_tracing=not args.no_tracing,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
