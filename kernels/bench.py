"""Benchmark of the strategy mixture: ``python -m kernels.bench``.

Prints, per backend × dtype × B × V (S = 8, every row conditioned, λ = 1):

- µs/call: median wall time of one call (CUDA: after synchronising);
- GB/s: bytes the fused kernel must move divided by the time. Bytes =
  2·B·V·sizeof(logits) (read twice) + B·V·sizeof(out) (written once) + 2·S·V·sizeof(bias)
  (the table read once per pass, the L2-resident best case; see ``triton_kernel``). The same
  byte count is used for every backend, so GB/s compares implementations on one footing;
- % of peak: GB/s over ``--peak-gbps`` (the card's memory bandwidth) when given;
- extra MiB: peak memory allocated beyond inputs and output. CUDA: the rise of
  ``torch.cuda.max_memory_allocated`` during one call. CPU: the largest block the Python
  allocator or PyTorch hands out cannot be read back portably, so it is the estimate from the
  tile sizes the implementation picks (three fp32 tiles of its chunk, plus the O(B·S)
  statistics; for ``factored`` also its cached S·V factor table).

On CPU (or without Triton) only the PyTorch backends run, and ``--quick`` (the default there)
keeps sizes small enough to finish in under a minute on two cores.

    python -m kernels.bench                       # CPU: quick reference figures
    python -m kernels.bench --device cuda         # GPU: full grid, kernel vs reference
    python -m kernels.bench --device cuda --peak-gbps 3350 --batch 128 --vocab 128256
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from kernels.strategy_mixture import reference as ref
from kernels.strategy_mixture.triton_kernel import HAS_TRITON, plan_splits

FULL_BATCHES = (1, 8, 64, 128, 256)
FULL_VOCABS = (32_000, 128_256, 151_936)
QUICK_BATCHES = (1, 8, 64)
QUICK_VOCABS = (32_000,)
NUM_STRATEGIES = 8
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def bytes_moved(batch: int, vocab: int, dtype: torch.dtype, num_strategies: int = 8) -> int:
    item = torch.empty((), dtype=dtype).element_size()
    return 3 * batch * vocab * item + 2 * num_strategies * vocab * 4


def _estimated_cpu_extra(backend: str, batch: int, vocab: int, num_strategies: int) -> int:
    if backend == "reference":
        chunk = ref._chunk_size(batch, num_strategies, vocab, None)
        tile = batch * num_strategies * chunk * 4
        return 3 * tile + 4 * batch * num_strategies * 4
    # factored: [R, C] tiles plus the cached S·V factor table of this λ
    chunk = ref._chunk_size(batch, 1, vocab, None)
    return 3 * batch * chunk * 4 + num_strategies * vocab * 4 + 4 * batch * num_strategies * 4


def _implementations(device: torch.device) -> dict[str, Callable]:
    impls: dict[str, Callable] = {
        "reference": ref.strategy_mixture_pytorch,
        "factored": ref.strategy_mixture_factored,
    }
    if device.type == "cuda" and HAS_TRITON:
        from kernels.strategy_mixture.triton_kernel import strategy_mixture_triton

        impls = {"triton": strategy_mixture_triton, **impls}
    return impls


def _time_call(fn: Callable[[], object], device: torch.device, min_seconds: float) -> float:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up: compilation, allocator
    sync()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < 3 or (time.perf_counter() - started < min_seconds and len(samples) < 200):
        begin = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples)


def run(
    batches: Sequence[int],
    vocabs: Sequence[int],
    dtypes: Sequence[str],
    device: torch.device,
    backends: Sequence[str] | None,
    min_seconds: float,
    peak_gbps: float | None,
) -> list[dict]:
    gen = torch.Generator(device="cpu").manual_seed(0)
    impls = _implementations(device)
    if backends:
        impls = {name: fn for name, fn in impls.items() if name in backends}
    rows = []
    header = f"{'backend':<10} {'dtype':<5} {'B':>4} {'V':>7} {'µs/call':>11} {'GB/s':>8}"
    header += f" {'% peak':>7}" if peak_gbps else ""
    header += f" {'extra MiB':>10} {'splits':>6}"
    print(header, flush=True)
    for dtype_name in dtypes:
        dtype = DTYPES[dtype_name]
        for vocab in vocabs:
            bias = (torch.randn(NUM_STRATEGIES, vocab, generator=gen) * 1.5).clamp(-5, 5)
            bias = bias.to(device)
            for batch in batches:
                logits = (torch.randn(batch, vocab, generator=gen) * 4).to(device, dtype)
                probs = torch.rand(batch, NUM_STRATEGIES, generator=gen).to(device)
                strength = torch.ones(batch, device=device)
                out = torch.empty_like(logits)
                args = (logits, bias, probs, strength)
                for name, fn in impls.items():

                    def call(fn=fn, args=args, out=out):
                        return fn(*args, out=out)

                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                        torch.cuda.reset_peak_memory_stats(device)
                        base = torch.cuda.memory_allocated(device)
                        call()
                        torch.cuda.synchronize(device)
                        extra = torch.cuda.max_memory_allocated(device) - base
                    else:
                        extra = _estimated_cpu_extra(name, batch, vocab, NUM_STRATEGIES)
                    seconds = _time_call(call, device, min_seconds)
                    gbps = bytes_moved(batch, vocab, dtype) / seconds / 1e9
                    splits = plan_splits(batch, vocab, device, 1024, None)[0]
                    row = {
                        "backend": name,
                        "dtype": dtype_name,
                        "B": batch,
                        "V": vocab,
                        "us": seconds * 1e6,
                        "gbps": gbps,
                        "extra_mib": extra / 2**20,
                        "splits": splits if name == "triton" else 1,
                    }
                    rows.append(row)
                    line = f"{name:<10} {dtype_name:<5} {batch:>4} {vocab:>7} {row['us']:>11.1f}"
                    line += f" {gbps:>8.1f}"
                    line += f" {100 * gbps / peak_gbps:>6.1f}%" if peak_gbps else ""
                    line += f" {row['extra_mib']:>10.2f} {row['splits']:>6}"
                    print(line, flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the strategy mixture kernels.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, nargs="+", help=f"default {FULL_BATCHES}")
    parser.add_argument("--vocab", type=int, nargs="+", help=f"default {FULL_VOCABS}")
    parser.add_argument("--dtype", nargs="+", choices=sorted(DTYPES), default=["fp32", "bf16"])
    parser.add_argument("--backend", nargs="+", choices=["triton", "reference", "factored"])
    parser.add_argument("--quick", action="store_true", help="small grid (default on CPU)")
    parser.add_argument("--full", action="store_true", help="the full grid even on CPU")
    parser.add_argument("--min-seconds", type=float, default=None, help="timing per case")
    parser.add_argument("--peak-gbps", type=float, default=None, help="card bandwidth, GB/s")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 gives stable figures on a shared machine)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    quick = args.quick or (device.type == "cpu" and not args.full)
    batches = args.batch or (QUICK_BATCHES if quick else FULL_BATCHES)
    vocabs = args.vocab or (QUICK_VOCABS if quick else FULL_VOCABS)
    min_seconds = args.min_seconds or (0.3 if device.type == "cpu" else 0.5)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"# device {name}; torch {torch.__version__}; triton "
        f"{'yes' if HAS_TRITON else 'no'}; threads {torch.get_num_threads()}; S = {NUM_STRATEGIES}"
    )
    run(batches, vocabs, args.dtype, device, args.backend, min_seconds, args.peak_gbps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
