"""Load benchmark of Support through Ray Serve: starts the platform on free ports, runs the locust
load test (``loadtests/``, mix scenario) headless at 1, 8 and 32 users, then measures tracing
overhead side by side (8 users, tracing off and on in alternating order on freshly started
platforms, spans exported over OTLP to a receiver in this process), and writes
``docs/benchmarks.md`` plus ``docs/benchmarks-stages.png``.

Run with ``solace bench load``, or directly:
``python -m tools.benchmarks.load [--run-time 25s] [--users 1,8,32] [--tracing-repeats 4]``;
``--tracing-only`` runs just the side-by-side tracing comparison and rewrites only its section of
``docs/benchmarks.md``.

Locust runs as a subprocess (``python -m loadtests.run``): it monkey-patches the stdlib with
gevent and must not share a process with the grpc this driver has loaded. Figures, not
assertions: the machines are shared, so compare numbers measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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
from services.common.serve_options import (
    COLOCATED,
    INGRESS,
    RISK,
    SERVICES,
    replica_count,
    topology,
)

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
TRACING_SECTION = "## Tracing overhead, side by side"
TOPOLOGY_SECTION = "## Topologies side by side"
# Written by hand from ``solace bench classifiers``; a load sweep keeps it as it is.
CLASSIFIER_SECTION = "## Classifier latency"
# Written by hand from ``solace bench llm``; kept the same way.
LLM_SECTION = "## LLM engine"


def layout(settings: Settings) -> str:
    """How ``settings`` lay the Serve app out, in words, for a report."""
    if topology(settings.serve) == COLOCATED:
        n = replica_count(settings.serve, INGRESS)
        return (
            f"`{COLOCATED}` topology: {n} Support ingress replica{'s' if n > 1 else ''}, each "
            "running the four services in its own process"
        )
    n = replica_count(settings.serve, RISK)
    return f"`{SERVICES}` topology: one deployment per service, {n} replica(s) each"


# Tracing off whatever the caller's environment says, and on with OTLP export to ``endpoint``.
# Off names no trace exporter but leaves the OpenTelemetry SDK enabled, so the two modes differ
# only in Solace's tracing: OTEL_SDK_DISABLED=true would also switch off the OpenTelemetry
# metrics SDK Ray's agent records with (measured at 8 users: no throughput difference either
# way, 92-94 req/s, but "off" should not depend on that).
TRACING_OFF = {"OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "false"}


def tracing_on(endpoint: str, sample_ratio: float = 1.0) -> dict[str, str]:
    """Tracing on, exporting to ``endpoint``; below 1, ``sample_ratio`` of the requests are
    traced (the standard head sampler a production deployment would set)."""
    env = {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
    }
    if sample_ratio < 1.0:
        env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
        env["OTEL_TRACES_SAMPLER_ARG"] = str(sample_ratio)
    return env


def tracing_title(sample_ratio: float = 1.0) -> str:
    if sample_ratio >= 1.0:
        return TRACING_SECTION
    return f"{TRACING_SECTION}, {sample_ratio:g} of requests sampled"


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
    #: Mean latency (ms): locust rounds its percentiles, the mean is not rounded.
    mean: float = 0.0
    #: Spans the OTLP receiver got during a traced run (None: tracing was off).
    spans: int | None = None


def run_load(
    host: str,
    users: int,
    run_time: str,
    out: Path,
    scenario: str = "mix",
    label: str = "",
    extra_env: dict[str, str] | None = None,
) -> LoadPoint:
    """``python -m loadtests.run`` as a subprocess (``extra_env`` added to its environment);
    reads its summary and stage files."""
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
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(extra_env or {})},
    )
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
        mean=summary.get("mean", 0.0),
        stages_p50={name: values["p50"] for name, values in stages.items()},
    )


def _with_platform(settings: Settings, env: dict[str, str], work: Any) -> Any:
    """Start the platform with ``env`` set (Ray workers inherit it) on free ports, started again
    on others when it fails to come up (``start_on_free_ports``), run ``work(host)``, stop. A
    failure of ``work`` itself is raised."""
    from solace_cli.platform import start_on_free_ports, stop_platform

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = start_on_free_ports(settings)
        host = f"127.0.0.1:{settings.grpc_port}"
        _wait_serving(host)
        return work(host)
    finally:
        try:
            stop_platform()
        except Exception as exc:  # a platform that never came up: keep the original error
            print(f"stopping the platform failed ({type(exc).__name__})", flush=True)
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


def instrumentation_cost_us(
    requests: int = 504,
    repeats: int = 5,
    sample_ratio: float = 1.0,
    settings: Settings | None = None,
) -> tuple[float, float]:
    """Microseconds of telemetry work per Support request, tracing off and on (medians of
    ``repeats`` interleaved rounds); ``sample_ratio`` of the requests traced when on.

    Replays what the instrumented pipeline does for one request (a server span, five stages,
    four client calls with metadata injection, the services' counts and, with the ``services``
    topology of ``settings``, their server spans) with no work inside, so the figure is the
    instrumentation alone. Tracing on exports every span
    over OTLP/gRPC to a receiver in this process (BatchSpanProcessor, as in production), and the
    export is counted: the timed loop flushes every 36 requests (396 spans, within one 512-span
    batch) so that the exporter keeps up instead of dropping spans from a full queue.
    """
    from services.common import telemetry
    from services.common.rpc_names import CLASSIFY, GENERATE, PREDICT, RESPOND, SCREEN

    # Colocated, the services run in the ingress: counted, but no server span of their own.
    remote = topology((settings or load_settings()).serve) == SERVICES

    def one_request() -> None:
        # The pipeline's shape: a stage that is one RPC is that RPC's client span, the grouping
        # "annotate" stage has no span of its own (services/router/pipeline.py).
        with telemetry.server_call("router", RESPOND, []):
            with telemetry.stage("router", "validation"):
                pass
            for stage, rpcs, options in (
                ("risk", (SCREEN,), {"rpc": SCREEN}),
                ("annotate", (CLASSIFY, PREDICT), {"span": False}),
                ("generation", (GENERATE,), {"rpc": GENERATE}),
            ):
                with telemetry.stage("router", stage, **options):
                    for rpc in rpcs:
                        with telemetry.client_call(rpc) as metadata:
                            service = rpc.split(".")[2].split("/")[0].lower()
                            with telemetry.server_call(service, rpc, metadata, span=remote):
                                pass
            with telemetry.stage("router", "output_screening"):
                pass

    def timed() -> float:
        for _ in range(36):
            one_request()
        telemetry.force_flush()
        start = time.perf_counter()
        for i in range(1, requests + 1):
            one_request()
            if i % 36 == 0:
                telemetry.force_flush()
        telemetry.force_flush()
        return (time.perf_counter() - start) / requests * 1e6

    off_us, on_us = [], []
    sink = OtlpTraceSink()
    sink.start()
    env = tracing_on(sink.endpoint, sample_ratio)
    # The SDK reads its sampler from the process environment, not from the mapping passed on.
    sampler = {k: v for k, v in env.items() if k.startswith("OTEL_TRACES_SAMPLER")}
    saved = {k: os.environ.get(k) for k in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")}
    os.environ.update(sampler)
    try:
        for _ in range(repeats):
            telemetry.shutdown_tracing()
            off_us.append(timed())
            telemetry.setup_tracing("solace-bench", environ=env)
            on_us.append(timed())
            telemetry.shutdown_tracing()
    finally:
        sink.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return statistics.median(off_us), statistics.median(on_us)


@dataclass
class TracingPair:
    """One repetition of the side-by-side comparison: the same load, tracing off and on."""

    first: str  # "off" or "on": which ran first in this repetition
    off: LoadPoint
    on: LoadPoint


def tracing_overhead(
    settings: Settings,
    users: int = 8,
    run_time: str = "20s",
    repeats: int = 4,
    work_dir: Path | None = None,
    sample_ratio: float = 1.0,
) -> list[TracingPair]:
    """Tracing off and on under the same load, side by side: ``repeats`` pairs of runs, each on
    a freshly started platform, alternating which mode goes first (off/on, on/off, ...) so that
    drift and a busy neighbour weigh on both modes alike. Tracing on exports every span over
    OTLP/gRPC to a receiver in this process."""
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="solace-tracing-"))
    sink = OtlpTraceSink()
    sink.start()
    pairs: list[TracingPair] = []
    try:
        for repeat in range(repeats):
            order = ("off", "on") if repeat % 2 == 0 else ("on", "off")
            points: dict[str, LoadPoint] = {}
            for mode in order:
                out = work_dir / f"r{repeat}-{mode}"
                received = len(sink.spans)

                def work(host: str, out: Path = out, mode: str = mode) -> LoadPoint:
                    run_load(host, 2, "3s", out / "warmup")
                    return run_load(
                        host, users, run_time, out, label=f"{users} users, tracing {mode}"
                    )

                env = tracing_on(sink.endpoint, sample_ratio) if mode == "on" else TRACING_OFF
                points[mode] = _with_platform(settings, env, work)
                if mode == "on":
                    points[mode].spans = len(sink.spans) - received
            pairs.append(TracingPair(order[0], points["off"], points["on"]))
    finally:
        sink.stop()
    return pairs


def _change(off: float, on: float) -> float:
    return (on / off - 1) * 100 if off > 0 else 0.0


def _locust_step_ms(ms: float) -> int:
    """The resolution of locust's percentiles around ``ms``: it stores response times rounded
    to 1 ms below 100 ms, to 10 ms below 1 s, to 100 ms above."""
    return 1 if ms < 100 else 10 if ms < 1000 else 100


def _server_p50(point: LoadPoint) -> float:
    return point.stages_p50.get("total", 0.0)


def pair_changes(pairs: Sequence[TracingPair]) -> dict[str, list[float]]:
    """Per pair, tracing on against off in percent: client p50, server-reported p50, mean."""
    return {
        "client p50": [_change(p.off.p50, p.on.p50) for p in pairs],
        "server p50": [_change(_server_p50(p.off), _server_p50(p.on)) for p in pairs],
        "mean": [_change(p.off.mean, p.on.mean) for p in pairs],
    }


def tracing_verdict(pairs: Sequence[TracingPair]) -> tuple[float, float, str, str]:
    """Median over the pairs of the p50 change (each pair ran side by side, so its change is
    the paired estimate), client-observed and server-reported, the one the verdict uses, and
    the verdict against the ≤ 5% target. The client p50 decides while locust reports it in
    1 ms steps (below 100 ms); above that its 10 ms steps are wider than the 5% to be shown,
    and the exact server-reported p50 decides."""
    changes = pair_changes(pairs)
    client = statistics.median(changes["client p50"])
    server = statistics.median(changes["server p50"])
    coarse = _locust_step_ms(statistics.median(p.off.p50 for p in pairs)) > 1
    basis, decisive = ("server p50", server) if coarse else ("client p50", client)
    return client, server, basis, "met" if decisive <= 5 else "NOT met"


def render_tracing(
    pairs: Sequence[TracingPair],
    run_time: str,
    cost_us: tuple[float, float] | None = None,
    command: str = "python -m tools.benchmarks.load",
    sample_ratio: float = 1.0,
) -> str:
    """The "Tracing overhead, side by side" section: every pair, then medians and spread."""
    users = pairs[0].off.users

    def median(values: Any) -> float:
        return statistics.median(list(values))

    server_p50 = _server_p50
    off_p50, on_p50 = median(p.off.p50 for p in pairs), median(p.on.p50 for p in pairs)
    off_server, on_server = (
        median(server_p50(p.off) for p in pairs),
        median(server_p50(p.on) for p in pairs),
    )
    off_mean, on_mean = median(p.off.mean for p in pairs), median(p.on.mean for p in pairs)
    off_rps, on_rps = median(p.off.rps for p in pairs), median(p.on.rps for p in pairs)
    _, _, basis, verdict = tracing_verdict(pairs)
    per_pair = pair_changes(pairs)
    spans = [p.on.spans / p.on.requests for p in pairs if p.on.spans and p.on.requests]
    traced = (
        "every request"
        if sample_ratio >= 1.0
        else f"{sample_ratio:g} of the requests (`OTEL_TRACES_SAMPLER=parentbased_traceidratio`)"
    )
    lines = [
        tracing_title(sample_ratio),
        "",
        f"{users} users, mix scenario, {run_time} per run; {len(pairs)} pairs of runs, each run "
        "on a freshly started platform, the order alternating (off then on, on then off, ...) so "
        f"that drift and other jobs on the machine weigh on both modes alike. Tracing on traces "
        f"{traced} and exports the spans of every process that handled the call over "
        "OTLP/gRPC (BatchSpanProcessor) to a receiver in the benchmark process on "
        f"the same machine; metrics are on in both modes. Produced by `{command}`. "
        f"Machine: `{platform.node()}`, {os.cpu_count()} CPUs. "
        f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        "",
        "Client p50 is locust's (whole milliseconds below 100 ms, 10 ms steps from 100 ms to 1 s); "
        "server p50 is the exact median of the `total` stage the router reports in "
        "`RespondResponse.timings`; the mean is locust's exact client-observed mean.",
        "",
        "| pair | first | client p50 ms, off → on | server p50 ms, off → on | "
        "mean ms, off → on | req/s, off → on | on p99 ms | spans/request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, p in enumerate(pairs, 1):
        per_request = f"{p.on.spans / p.on.requests:.1f}" if p.on.spans and p.on.requests else "-"
        lines.append(
            f"| {i} | {p.first} | {p.off.p50:.0f} → {p.on.p50:.0f} "
            f"({_change(p.off.p50, p.on.p50):+.1f}%) | "
            f"{server_p50(p.off):.1f} → {server_p50(p.on):.1f} "
            f"({_change(server_p50(p.off), server_p50(p.on)):+.1f}%) | "
            f"{p.off.mean:.1f} → {p.on.mean:.1f} ({_change(p.off.mean, p.on.mean):+.1f}%) | "
            f"{p.off.rps:.1f} → {p.on.rps:.1f} | {p.on.p99:.0f} | {per_request} |"
        )
    spread = "; ".join(
        f"{name} **{median(values):+.1f}%** (range {min(values):+.1f}% to {max(values):+.1f}%)"
        for name, values in per_pair.items()
    )
    step = _locust_step_ms(off_p50)
    lines += [
        "",
        f"Change with tracing on, median over the pairs: {spread}. Levels (medians): client p50 "
        f"{off_p50:.0f} → {on_p50:.0f} ms (locust's step here: {step} ms = "
        f"{step / off_p50 * 100:.1f}%), server p50 {off_server:.1f} → {on_server:.1f} ms, mean "
        f"{off_mean:.1f} → {on_mean:.1f} ms, throughput {off_rps:.1f} → {on_rps:.1f} req/s"
        + (f"; {median(spans):.1f} spans per request." if spans else "."),
        "",
        f"Target (tracing overhead ≤ 5% on p50, judged on the median per-pair change of the "
        f"{basis}"
        + (" since the client p50 moves in 10 ms steps here" if basis == "server p50" else "")
        + f"): **{verdict}**.",
    ]
    if cost_us is not None:
        off, on = cost_us
        lines += [
            "",
            f"Instrumentation alone, measured in-process (`instrumentation_cost_us`: one "
            f"request's spans, stages and metrics with no work inside, OTLP export included; "
            f"median of 5 interleaved rounds): {off:.0f} µs per request with tracing off "
            f"(metrics only), {on:.0f} µs with tracing on.",
        ]
    return "\n".join(lines) + "\n"


def replace_section(report: str, section: str) -> str:
    """``report`` with its section titled like ``section`` (up to the next ``## `` heading)
    replaced by ``section``, or ``section`` appended when it has none."""
    title = section.splitlines()[0]
    start = report.find(title + "\n")
    if start < 0:
        return report.rstrip("\n") + "\n\n" + section
    end = report.find("\n## ", start + len(title))
    rest = "" if end < 0 else report[end + 1 :]
    return report[:start] + section + ("\n" + rest if rest else "")


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
    pairs: Sequence[TracingPair],
    run_time: str,
    plot_name: str,
    cost_us: tuple[float, float] | None = None,
    setup: str = "",
    topologies: Sequence[tuple[str, LoadPoint]] = (),
) -> str:
    """``setup``: the served layout in words (``layout``); ``topologies``: 8-user points of the
    same code under each layout, measured one after the other in this run."""
    stages = _stage_columns(points)
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
        f"Setup: `solace serve` (Ray Serve, composer engine, {setup or 'defaults'}) on the "
        f"same machine as locust; `loadtests/` mix scenario (everyday 16 : stream 4 : crisis 1 : "
        f"bad input 1), closed loop with no think time, {run_time} per row. Latency is "
        "client-observed (locust); per-stage columns are the server-reported p50 (ms) of "
        "`RespondResponse.timings`. Produced by `python -m tools.benchmarks.load`.",
        "",
        "Traffic: everyday requests are conversations (up to 4 seeker turns, sent whole each "
        "time with the platform's earlier replies), and every seeker turn is new text "
        "(`loadtests.messages.fresh_turn`), so each request pays for encoding its newest turn "
        "as in production. Figures before 2026-11-26 04:00 UTC came from a fixed list of "
        "messages that the services' embedding memos held after the first seconds (the same "
        "code then did 108–113 req/s at 8 users, 51–56 with a new turn in every request): not "
        "comparable. Each section below names its date; those that name no layout ran before "
        "2026-11-26 06:30 UTC, on one deployment per service (the `services` topology).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for p in points:
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
    if pairs:
        client, server, basis, verdict = tracing_verdict(pairs)
        lines.append(
            f"- Tracing overhead on p50 ({pairs[0].off.users} users, median per-pair change over "
            f"{len(pairs)} interleaved pairs, OTLP export to a local receiver vs tracing off): "
            f"client {client:+.1f}%, server-reported {server:+.1f}% — {verdict} (on the "
            f"{basis}); see below."
        )
    lines += [
        "",
        "Locust itself shares the 2 cores with Ray and the replicas, so these are lower "
        "bounds on what the platform alone would do.",
        "",
    ]
    if topologies:
        lines += [
            TOPOLOGY_SECTION,
            "",
            f"8 users, {run_time} each, a freshly started platform per layout, one after the "
            "other in this run (`SOLACE_SERVE_TOPOLOGY`, docs/scaling.md).",
            "",
            "| layout | req/s | p50 ms | p95 ms | p99 ms | failures |",
            "|---|---|---|---|---|---|",
        ]
        for name, p in topologies:
            lines.append(
                f"| {name} | {p.rps:.1f} | {p.p50:.0f} | {p.p95:.0f} | {p.p99:.0f} | {p.failures} |"
            )
        lines.append("")
    if pairs:
        command = f"python -m tools.benchmarks.load --tracing-repeats {len(pairs)}"
        lines.append(render_tracing(pairs, run_time, cost_us, f"{command} --run-time {run_time}"))
    return "\n".join(lines)


def run(
    settings: Settings,
    users: Sequence[int] = (1, 8, 32),
    run_time: str = "20s",
    tracing_repeats: int = 4,
    docs_dir: Path = DOCS,
) -> str:
    """Run the benchmark, write the report and plot under ``docs_dir``; returns the report."""
    work_dir = Path(tempfile.mkdtemp(prefix="solace-load-"))

    def sweep(host: str) -> list[LoadPoint]:
        # A short warm-up so the first row does not pay for lazy model loading.
        run_load(host, 2, "3s", work_dir / "warmup")
        return [run_load(host, n, run_time, work_dir / f"u{n}") for n in users]

    points = _with_platform(settings, TRACING_OFF, sweep)
    topologies: list[tuple[str, LoadPoint]] = []
    if 8 in users:
        # The same load under the other layout, for the report's side-by-side section.
        at8 = next(p for p in points if p.users == 8)
        other = settings.with_overrides(
            serve_topology=SERVICES if topology(settings.serve) == COLOCATED else COLOCATED
        )

        def warm_8(host: str) -> LoadPoint:
            run_load(host, 2, "3s", work_dir / "warmup-other")
            return run_load(host, 8, run_time, work_dir / "other")

        alternative = _with_platform(other, TRACING_OFF, warm_8)
        topologies = [(layout(settings), at8), (layout(other), alternative)]
    pairs: list[TracingPair] = []
    cost_us = None
    if tracing_repeats > 0:
        pairs = tracing_overhead(settings, 8, run_time, tracing_repeats, work_dir)
        cost_us = instrumentation_cost_us(settings=settings)
    plot = docs_dir / "benchmarks-stages.png"
    write_plot(points, plot)
    report = render_report(
        points, pairs, run_time, plot.name, cost_us, layout(settings), topologies
    )
    path = docs_dir / "benchmarks.md"
    if path.exists():
        report = keep_sections(report, path.read_text(), compared=bool(pairs))
    path.write_text(report)
    return report


def keep_sections(report: str, previous: str, compared: bool) -> str:
    """``report`` with the sections of ``previous`` that this sweep did not write: the
    classifier and LLM figures always, the side-by-side tracing ones when it ran no comparison."""
    kept = [] if compared else _tracing_sections(previous)
    kept += _sections(previous, CLASSIFIER_SECTION) + _sections(previous, LLM_SECTION)
    for section in kept:
        report = replace_section(report, section)
    return report


def _sections(report: str, title: str) -> list[str]:
    """The sections of ``report`` whose heading starts with ``title``."""
    sections = []
    for chunk in ("\n" + report).split("\n## ")[1:]:
        if ("## " + chunk).startswith(title):
            sections.append("## " + chunk.rstrip("\n") + "\n")
    return sections


def _tracing_sections(report: str) -> list[str]:
    """The "Tracing overhead, side by side" sections of ``report`` (one per sampling ratio)."""
    return _sections(report, TRACING_SECTION)


def run_tracing(
    settings: Settings,
    users: int = 8,
    run_time: str = "20s",
    repeats: int = 4,
    docs_dir: Path = DOCS,
    sample_ratio: float = 1.0,
) -> str:
    """Only the side-by-side tracing comparison; rewrites its section of ``benchmarks.md`` (the
    rest of the report stays as the last full run wrote it; each sampling ratio has a section of
    its own) and returns the section."""
    pairs = tracing_overhead(settings, users, run_time, repeats, sample_ratio=sample_ratio)
    command = (
        f"python -m tools.benchmarks.load --tracing-only --users {users} "
        f"--tracing-repeats {repeats} --run-time {run_time}"
        + (f" --tracing-sample-ratio {sample_ratio:g}" if sample_ratio < 1.0 else "")
    )
    section = render_tracing(
        pairs,
        run_time,
        instrumentation_cost_us(sample_ratio=sample_ratio, settings=settings),
        command,
        sample_ratio=sample_ratio,
    )
    path = docs_dir / "benchmarks.md"
    report = path.read_text() if path.exists() else ""
    path.write_text(replace_section(report, section))
    return section


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
    parser.add_argument(
        "--tracing-repeats",
        type=int,
        default=4,
        help="pairs of 8-user runs, tracing off and on, in the side-by-side comparison (0: skip)",
    )
    parser.add_argument("--no-tracing", action="store_true", help="same as --tracing-repeats 0")
    parser.add_argument(
        "--tracing-only",
        action="store_true",
        help="only the side-by-side tracing comparison (at the first of --users if given, else "
        "8); rewrites just that section of docs/benchmarks.md",
    )
    parser.add_argument(
        "--tracing-sample-ratio",
        type=float,
        default=1.0,
        help="with --tracing-only: the share of requests traced when tracing is on (head "
        "sampling, parentbased_traceidratio); 1 traces every request",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="CI smoke: 4 users, mix, fail on any error"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.smoke:
        return smoke(load_settings(), run_time=args.run_time)
    users = [int(u) for u in args.users.split(",")]
    repeats = 0 if args.no_tracing else args.tracing_repeats
    if args.tracing_only:
        tracing_users = users[0] if args.users != parser.get_default("users") else 8
        if not 0.0 < args.tracing_sample_ratio <= 1.0:
            parser.error("--tracing-sample-ratio must be in (0, 1]")
        print(
            run_tracing(
                load_settings(),
                tracing_users,
                args.run_time,
                max(repeats, 1),
                sample_ratio=args.tracing_sample_ratio,
            )
        )
        return 0
    print(run(load_settings(), users=users, run_time=args.run_time, tracing_repeats=repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
