"""End-to-end ``Support/Respond`` latency through Ray Serve: starts the platform on free ports,
makes sequential calls over a real gRPC channel and prints p50/p99 plus per-stage p50s.

Every call sends a seeker turn no call has sent before (``fresh_request``): with a fixed list of
messages the services' embedding memos answer after the first few calls and the classifiers'
encoder is never timed (before 2026-12-03 this benchmark did just that).

Run with ``solace bench support`` (or ``make bench``). Figures, not assertions: the machines are
shared and noisy, so compare numbers measured side by side in one run.
"""

from __future__ import annotations

import platform
import random
import statistics
import time
from collections import defaultdict
from typing import Any

from services.common.config import Settings

MESSAGES = (
    "I lost my job and I can't sleep",
    "My girlfriend broke up with me last week and I feel so lonely",
    "I'm stressed about my exams, I keep procrastinating",
    "My best friend stopped talking to me and I don't know why",
    "I feel like I'm failing at everything at work",
)


def fresh_request(call: int, rng: random.Random) -> Any:
    """A one-turn ``RespondRequest`` whose text is new to the platform (``MESSAGES[call]``
    with a random opener, duration and close, as the load tests' new turns)."""
    from loadtests.messages import fresh_turn
    from solace.v1 import common_pb2, support_pb2

    text = fresh_turn(MESSAGES[call % len(MESSAGES)], rng)
    return support_pb2.RespondRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text)]
        )
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(settings: Settings, calls: int = 300, warmup: int = 20) -> str:
    import grpc

    from solace.v1 import support_pb2_grpc
    from solace_cli.platform import start_on_free_ports, stop_platform

    rng = random.Random(0)
    settings = start_on_free_ports(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            stub = support_pb2_grpc.SupportStub(channel)
            for i in range(warmup):
                stub.Respond(fresh_request(i, rng), timeout=30)
            requests = [fresh_request(i, rng) for i in range(calls)]
            latencies: list[float] = []
            stages: dict[str, list[float]] = defaultdict(list)
            for request in requests:
                start = time.perf_counter()
                response = stub.Respond(request, timeout=30)
                latencies.append((time.perf_counter() - start) * 1000)
                for timing in response.timings:
                    stages[timing.stage].append(timing.milliseconds)
    finally:
        stop_platform(settings.shared_embeddings_dir)
    lines = [
        f"Support/Respond through Ray Serve, {calls} sequential calls after {warmup} warm-up, "
        f"each with a new seeker turn (composer engine; {platform.node()}, "
        f"{time.strftime('%Y-%m-%d')})",
        f"  client-observed  p50 {_percentile(latencies, 0.5):7.2f} ms   "
        f"p99 {_percentile(latencies, 0.99):7.2f} ms   mean {statistics.fmean(latencies):7.2f} ms",
        "  server stages (p50 ms): "
        + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in stages.items()),
    ]
    return "\n".join(lines)
