"""Batched against unbatched classifiers, side by side in one run: the same platform started
twice on this machine (``batching`` on, then off), 32 concurrent gRPC clients calling
``Support/Respond`` for a fixed time each, and throughput with p50/p99 printed per mode.

Run with ``python -m tools.benchmarks.batching`` (or ``run(settings)``). Figures, not
assertions: the machine's cores are shared and noisy, so only numbers from one run compare.
"""

from __future__ import annotations

import asyncio
import platform
import random
import time

from services.common.config import Settings, load_settings
from services.common.serve_options import DEFENSE, SERVICES, replica_count
from tools.benchmarks.support import MESSAGES, _percentile, fresh_request


async def _load(target: str, users: int, duration_s: float) -> tuple[list[float], int]:
    """``users`` asyncio clients on one channel, each sending back to back; latencies (ms) of
    the answered calls and the number of failed ones."""
    import grpc

    from solace.v1 import support_pb2_grpc

    rng = random.Random(0)
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(target) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=60)
        stub = support_pb2_grpc.SupportStub(channel)
        for i in range(len(MESSAGES)):  # warm every replica and Serve's routing
            await stub.Respond(fresh_request(i, rng), timeout=30)
        end = time.monotonic() + duration_s

        async def user(n: int) -> None:
            nonlocal errors
            i = n
            while time.monotonic() < end:
                start = time.perf_counter()
                try:
                    # A new seeker turn each call: the memos must not answer for the encoder.
                    await stub.Respond(fresh_request(i, rng), timeout=30)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                finally:
                    i += 1
                latencies.append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(user(n) for n in range(users)))
    return latencies, errors


def _measure(settings: Settings, users: int, duration_s: float) -> dict[str, float]:
    from solace_cli.platform import start_on_free_ports, stop_platform

    settings = start_on_free_ports(settings)
    try:
        started = time.monotonic()
        latencies, errors = asyncio.run(_load(f"127.0.0.1:{settings.grpc_port}", users, duration_s))
        elapsed = time.monotonic() - started
    finally:
        stop_platform(settings.shared_embeddings_dir)
    return {
        "rps": len(latencies) / min(elapsed, duration_s) if latencies else 0.0,
        "p50": _percentile(latencies, 0.5) if latencies else float("nan"),
        "p99": _percentile(latencies, 0.99) if latencies else float("nan"),
        "calls": float(len(latencies)),
        "errors": float(errors),
    }


def run(settings: Settings, users: int = 32, duration_s: float = 20.0) -> str:
    """Measure batching on, then off, with everything else equal; return the comparison.
    Batching happens in the classifier deployments, so this runs the ``services`` topology."""
    settings = settings.with_overrides(serve_topology=SERVICES)
    results = {
        "batched": _measure(settings.with_overrides(batching=True), users, duration_s),
        "unbatched": _measure(settings.with_overrides(batching=False), users, duration_s),
    }
    serve = settings.serve
    lines = [
        f"Support/Respond, {users} concurrent clients, {duration_s:.0f} s per mode "
        f"(batch_max_size {serve.batch_max_size}, batch_wait_ms {serve.batch_wait_ms}, "
        f"{replica_count(serve, DEFENSE)} replica(s) of each deployment; {platform.node()}, "
        f"{time.strftime('%Y-%m-%d')})",
        f"  {'mode':<10} {'req/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'calls':>7} {'errors':>7}",
    ]
    for mode, r in results.items():
        lines.append(
            f"  {mode:<10} {r['rps']:8.1f} {r['p50']:9.1f} {r['p99']:9.1f} "
            f"{r['calls']:7.0f} {r['errors']:7.0f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(load_settings()), flush=True)
