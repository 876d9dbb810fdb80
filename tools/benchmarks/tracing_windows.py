"""Tracing overhead measured in interleaved time windows of one load run.

The side-by-side benchmark of ``tools.benchmarks.load`` compares whole runs on freshly started
platforms, tracing off then on. On a shared 2-core machine consecutive runs differ by ±20% on
their own (other tenants, where Ray places what), which buries a 5% effect. Here one platform
serves both modes at once: it exports spans over OTLP but its sampler is
``parentbased_always_off``, so only requests that arrive with a sampled W3C ``traceparent``
are traced. The locust users (``SOLACE_LOAD_TRACE_WINDOW``) send one on every call in odd
windows of wall-clock time and none in even windows, and record each successful Respond with
its window. Traced and untraced windows alternate every few seconds, so both modes share the
same processes, warm caches and the same moment's machine noise.

What the untraced windows still pay: the SDK is installed, so their spans are created unsampled
(no attributes, no export). ``instrumentation_cost_us`` measures that cost in-process next to the
full cost, and the report states it. A window's first seconds are not recorded, since the
previous window's spans are still being exported then (the BatchSpanProcessor's default
schedule).

``python -m tools.benchmarks.tracing_windows [--users 8] [--run-time 120s] [--window 10]
[--repeats 2] [--traced-share 0.1]`` rewrites its section of ``docs/benchmarks.md`` (one per
share of traced calls) and prints it.

``--traced-share 0`` is the A/A run that calibrates the method: the "traced" windows carry an
unsampled ``traceparent`` on every call, so nothing is traced and both kinds of window pay the
same; whatever change it reports is the method's own bias (the traced window always comes second
in a pair, so drift within a run lands on it) and noise, to be read next to the real runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.config import Settings, load_settings
from tools.benchmarks.load import (
    DOCS,
    TRACING_SECTION,
    OtlpTraceSink,
    _change,
    _with_platform,
    instrumentation_cost_us,
    layout,
    replace_section,
    run_load,
    tracing_on,
)
from tools.benchmarks.support import _percentile as percentile

SECTION = f"{TRACING_SECTION}, interleaved windows"


def section_title(traced_share: float = 1.0) -> str:
    """Each share of traced calls has its own section of the report."""
    if traced_share <= 0.0:
        return f"{SECTION}, A/A (no call traced)"
    return SECTION if traced_share >= 1.0 else f"{SECTION}, {traced_share:g} of calls traced"


#: Fewer recorded calls than this in a window leave it out of the per-pair changes.
MIN_WINDOW_CALLS = 20


@dataclass(frozen=True)
class Sample:
    """One recorded Respond: its window, whether it was traced, client and server ms."""

    window: int
    traced: bool
    client_ms: float
    server_ms: float


@dataclass
class WindowRun:
    """One platform's run: its samples and what the OTLP receiver got."""

    samples: list[Sample]
    spans: int
    traces: int
    requests: int
    rps: float


def read_samples(path: Path) -> list[Sample]:
    """The samples the locust users wrote (``SOLACE_LOAD_TRACE_FILE``)."""
    data = json.loads(path.read_text())
    return [Sample(int(w), bool(t), float(c), float(s)) for w, t, c, s in data["samples"]]


def window_pairs(samples: Sequence[Sample]) -> list[tuple[list[Sample], list[Sample]]]:
    """(untraced, traced) samples of adjacent windows 2k and 2k + 1, where both have at least
    MIN_WINDOW_CALLS calls: the per-pair changes come from neighbours in time."""
    by_window: dict[int, list[Sample]] = {}
    for sample in samples:
        by_window.setdefault(sample.window, []).append(sample)
    pairs = []
    for window in sorted(w for w in by_window if w % 2 == 0):
        off, on = by_window[window], by_window.get(window + 1, [])
        if len(off) >= MIN_WINDOW_CALLS and len(on) >= MIN_WINDOW_CALLS:
            pairs.append((off, on))
    return pairs


@dataclass(frozen=True)
class Summary:
    """Pooled figures per mode and the per-pair changes (percent)."""

    calls: tuple[int, int]
    client_p50: tuple[float, float]
    client_p99: tuple[float, float]
    client_mean: tuple[float, float]
    server_p50: tuple[float, float]
    pair_client_p50: list[float]
    pair_server_p50: list[float]
    #: 95% interval of the pooled client p50 change, resampling whole window pairs.
    client_p50_interval: tuple[float, float] | None = None

    @property
    def client_p50_change(self) -> float:
        return _change(*self.client_p50)

    @property
    def verdict(self) -> str:
        return "met" if self.client_p50_change <= 5 else "NOT met"


def pooled_change_interval(
    pairs: Sequence[tuple[list[Sample], list[Sample]]], resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """95% interval of the pooled client p50 change by a block bootstrap: draw window pairs
    with replacement (neighbouring calls share the moment's noise, so whole pairs are the
    unit), pool their calls per mode, take the change of the p50s. None below 5 pairs."""
    import numpy as np

    if len(pairs) < 5:
        return None
    rng = np.random.default_rng(seed)
    off = [np.array([s.client_ms for s in o]) for o, _ in pairs]
    on = [np.array([s.client_ms for s in t]) for _, t in pairs]

    def p50(values: np.ndarray) -> float:  # the pooled figure's rule (``percentile``)
        ordered = np.sort(values)
        return float(ordered[round(0.5 * (len(ordered) - 1))])

    changes = []
    for _ in range(resamples):
        pick = rng.integers(0, len(pairs), len(pairs))
        a = p50(np.concatenate([off[i] for i in pick]))
        b = p50(np.concatenate([on[i] for i in pick]))
        changes.append(_change(a, b))
    low, high = np.percentile(changes, [2.5, 97.5])
    return float(low), float(high)


def summarize(samples: Sequence[Sample]) -> Summary:
    """Pooled p50/p99/mean per mode over every recorded call, per window pair the change of
    the client and server p50, and a bootstrap interval of the pooled change."""
    untraced = [s for s in samples if not s.traced]
    traced = [s for s in samples if s.traced]
    if not untraced or not traced:
        raise ValueError("no recorded calls in one of the modes: run longer than two windows")

    def client(mode: Sequence[Sample]) -> list[float]:
        return [s.client_ms for s in mode]

    def server(mode: Sequence[Sample]) -> list[float]:
        return [s.server_ms for s in mode]

    pairs = window_pairs(samples)
    return Summary(
        calls=(len(untraced), len(traced)),
        client_p50=(percentile(client(untraced), 0.5), percentile(client(traced), 0.5)),
        client_p99=(percentile(client(untraced), 0.99), percentile(client(traced), 0.99)),
        client_mean=(statistics.fmean(client(untraced)), statistics.fmean(client(traced))),
        server_p50=(percentile(server(untraced), 0.5), percentile(server(traced), 0.5)),
        pair_client_p50=[
            _change(percentile(client(off), 0.5), percentile(client(on), 0.5)) for off, on in pairs
        ],
        pair_server_p50=[
            _change(percentile(server(off), 0.5), percentile(server(on), 0.5)) for off, on in pairs
        ],
        client_p50_interval=pooled_change_interval(pairs),
    )


def run_windows(
    settings: Settings,
    users: int = 8,
    run_time: str = "120s",
    window_s: float = 10.0,
    repeats: int = 2,
    work_dir: Path | None = None,
    traced_share: float = 1.0,
) -> list[WindowRun]:
    """``repeats`` runs, each on a freshly started platform that exports spans of the requests
    the load marks as sampled (in traced windows, ``traced_share`` of the calls)."""
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="solace-windows-"))
    sink = OtlpTraceSink()
    sink.start()
    env = {**tracing_on(sink.endpoint), "OTEL_TRACES_SAMPLER": "parentbased_always_off"}
    runs = []
    try:
        for repeat in range(repeats):
            out = work_dir / f"r{repeat}"
            received = len(sink.spans)

            def work(host: str, out: Path = out) -> WindowRun:
                run_load(host, 2, "3s", out / "warmup")
                trace_file = out / "windows.json"
                point = run_load(
                    host,
                    users,
                    run_time,
                    out,
                    label=f"{users} users, interleaved windows",
                    extra_env={
                        "SOLACE_LOAD_TRACE_WINDOW": str(window_s),
                        "SOLACE_LOAD_TRACE_FILE": str(trace_file),
                        "SOLACE_LOAD_TRACE_SHARE": str(traced_share),
                    },
                )
                return WindowRun(read_samples(trace_file), 0, 0, point.requests, point.rps)

            run = _with_platform(settings, env, work)
            # Spans keep arriving for a moment after the platform stops flushing them.
            time.sleep(1.0)
            spans = sink.spans[received:]
            run.spans = len(spans)
            run.traces = len({s.trace_id for _, s in spans})
            runs.append(run)
    finally:
        sink.stop()
    return runs


def render(
    runs: Sequence[WindowRun],
    summary: Summary,
    users: int,
    run_time: str,
    window_s: float,
    cost_us: tuple[float, float, float] | None,
    command: str,
    traced_share: float = 1.0,
    setup: str = "",
) -> str:
    """The report section: pooled figures per mode, per-pair spread, the verdict; ``setup``:
    the served layout in words (``load.layout``)."""
    off, on = 0, 1
    pair_client, pair_server = summary.pair_client_p50, summary.pair_server_p50

    def spread(values: list[float]) -> str:
        if not values:
            return "no complete pairs"
        return (
            f"median {statistics.median(values):+.1f}% "
            f"(range {min(values):+.1f}% to {max(values):+.1f}%, {len(values)} pairs)"
        )

    spans = sum(r.spans for r in runs)
    traces = sum(r.traces for r in runs)
    if traced_share >= 1.0:
        carried = "every call carries a sampled W3C `traceparent`"
    elif traced_share <= 0.0:
        carried = (
            "every call carries an unsampled W3C `traceparent` (an A/A run: nothing is traced, "
            "so the two kinds of window differ only in their order within a pair)"
        )
    else:
        carried = (
            f"a call carries a sampled W3C `traceparent` with probability {traced_share:g} and "
            "an unsampled one otherwise (head sampling decided at the edge)"
        )
    lines = [
        section_title(traced_share),
        "",
        f"{users} users, mix scenario, {len(runs)} run(s) of {run_time}, each on a freshly "
        f"started platform{f' ({setup})' if setup else ''}. Within a run, {window_s:g}-second "
        f"windows alternate: in traced windows {carried}, in untraced windows none, and "
        "the platform's sampler is `parentbased_always_off`, so exactly the sampled calls of "
        "traced windows are traced, their spans (from every process that handled the call) "
        "exported over OTLP/gRPC (BatchSpanProcessor) to a receiver in the benchmark process. "
        "Both modes share the same processes and the same moment's machine noise, which whole "
        "runs on fresh platforms do not (they differ by ±20% on this machine on their own). "
        "Calls in a window's first 2 s are not recorded (the previous window's spans are still "
        f"being exported). Produced by `{command}`. Machine: `{platform.node()}`, {os.cpu_count()} "
        f"CPUs. Date: {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        "",
        "Latencies are exact (every recorded call, not locust's rounded percentiles); server "
        "p50 is the `total` stage the router reports in `RespondResponse.timings`.",
        "",
        "| mode | recorded calls | client p50 ms | client mean ms | client p99 ms | "
        "server p50 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, i in (("untraced", off), ("traced", on)):
        lines.append(
            f"| {name} | {summary.calls[i]} | {summary.client_p50[i]:.1f} | "
            f"{summary.client_mean[i]:.1f} | {summary.client_p99[i]:.1f} | "
            f"{summary.server_p50[i]:.1f} |"
        )
    lines += [
        f"| change | | **{summary.client_p50_change:+.1f}%** | "
        f"{_change(*summary.client_mean):+.1f}% | {_change(*summary.client_p99):+.1f}% | "
        f"{_change(*summary.server_p50):+.1f}% |",
        "",
        f"Per window pair (an untraced window and the traced one after it): client p50 "
        f"{spread(pair_client)}; server p50 {spread(pair_server)}. Throughput "
        + ", ".join(f"{r.rps:.1f}" for r in runs)
        + " req/s; "
        + (f"{spans / traces:.1f} spans per traced call." if traces else "no spans received."),
        "",
        (
            "A/A calibration, nothing traced: the change above is what the method reports when "
            "both kinds of window cost the same"
            if traced_share <= 0.0
            else "Target (tracing overhead ≤ 5% on p50, on the pooled client p50): "
            f"**{summary.verdict}**"
        )
        + (
            " (95% interval of the change, block bootstrap over window pairs: "
            f"{summary.client_p50_interval[0]:+.1f}% to {summary.client_p50_interval[1]:+.1f}%)."
            if summary.client_p50_interval
            else "."
        ),
    ]
    if cost_us is not None:
        metrics_only, unsampled, traced = cost_us
        lines += [
            "",
            "What the untraced windows still pay, measured in-process (`instrumentation_cost_us`"
            ": one request's spans, stages and metrics with no work inside, median of 5 "
            f"interleaved rounds): {metrics_only:.0f} µs per request with tracing off (metrics "
            f"only), {unsampled:.0f} µs with tracing installed and the request unsampled, "
            f"{traced:.0f} µs traced and exported. The untraced windows carry the "
            f"{unsampled - metrics_only:.0f} µs difference, so the change above understates "
            "tracing-on against tracing-off by that much per request.",
        ]
    return "\n".join(lines) + "\n"


def run(
    settings: Settings,
    users: int = 8,
    run_time: str = "120s",
    window_s: float = 10.0,
    repeats: int = 2,
    docs_dir: Path = DOCS,
    traced_share: float = 1.0,
) -> str:
    """Measure, rewrite the section of ``benchmarks.md``, return it."""
    runs = run_windows(settings, users, run_time, window_s, repeats, traced_share=traced_share)
    summary = summarize([s for r in runs for s in r.samples])
    metrics_only, traced = instrumentation_cost_us(settings=settings)
    _, unsampled = instrumentation_cost_us(sample_ratio=0.0, settings=settings)
    command = (
        f"python -m tools.benchmarks.tracing_windows --users {users} --run-time {run_time} "
        f"--window {window_s:g} --repeats {repeats}"
        + (f" --traced-share {traced_share:g}" if traced_share < 1.0 else "")
    )
    costs = (metrics_only, unsampled, traced)
    section = render(
        runs,
        summary,
        users,
        run_time,
        window_s,
        costs,
        command,
        traced_share=traced_share,
        setup=layout(settings),
    )
    path = docs_dir / "benchmarks.md"
    report = path.read_text() if path.exists() else ""
    path.write_text(replace_section(report, section))
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--run-time", default="120s")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--repeats", type=int, default=2, help="runs on fresh platforms")
    parser.add_argument(
        "--traced-share",
        type=float,
        default=1.0,
        help="share of the calls in traced windows that are sampled (head sampling); 1: all",
    )
    args = parser.parse_args(argv)
    if args.window <= 2:
        parser.error("--window must be longer than the 2 s settling time")
    if not 0.0 <= args.traced_share <= 1.0:
        parser.error("--traced-share must be in [0, 1] (0: the A/A calibration run)")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(
        run(
            load_settings(),
            users=args.users,
            run_time=args.run_time,
            window_s=args.window,
            repeats=args.repeats,
            traced_share=args.traced_share,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
