"""Cost of the strategy logits processor in vLLM, side by side in one process.

Two engines over the same model live together (vLLM without the processor, and with it), and
each repetition runs, back to back and interleaved so that a noisy neighbour hits every mode
alike:

- ``no processor``: the plain engine;
- ``processor, none conditioned``: the processor loaded, no request asks for conditioning;
- ``processor, all conditioned``: every request hard-conditioned (``strategy`` 0, λ = 1);
- ``processor, all mixture``: every request conditioned on a mixture over all 8 strategies
  (``strategy_probs`` ``MIXTURE``, λ = 1), as the vLLM engine sends the strategy predictor's
  probabilities when no strategy is forced; the fused native step (``cpu_mixture.c``) where it
  builds;
- ``processor, mixture, torch step``: the same requests with the native step switched off
  (``SOLACE_NATIVE_MIXTURE=0`` while they run), so the native and the PyTorch step are
  measured side by side in one run (the same as the row above where the native step is
  unavailable: the report's header says which it is).

for each batch size (``--batches``, default 8 and 64), ``--tokens`` greedy tokens per request
(``ignore_eos``, so every run decodes the same number). It prints the median tokens/s over
``--repeats`` and each mode's change against its baseline (negative: slower), then a
micro-benchmark of the processor's ``apply()`` alone (µs per decode step, on fake batch state
with the engine's table) next to the engine's own time per decode step, which says how much of
a measured cost is the processor and how much is noise, and the same ``apply()`` timed inside
the engine during the timed runs. The two differ: back to back, the micro-benchmark runs with
warm caches; in the engine each call follows a model step and vLLM's bookkeeping, and at a
small vocabulary, where a call is a dozen small tensor operations, it takes 1.5–2 times as
long. The in-engine figure is the one that adds up to the throughput change::

    python -m tools.benchmarks.vllm                      # the tests' tiny random Llama
    python -m tools.benchmarks.vllm --model DIR --bias-table TABLE.npz

Baselines. The two engines are two instances, and instances differ in speed by themselves
(an earlier run had the processor engine with no request conditioned 9% *faster* than the plain
one; other runs ±2%), so a conditioned mode against the plain engine mixes that instance effect
into the processor's cost. With no request conditioned the processor's ``apply()`` returns at
once (``apply_conditioning``: one ``bool``), so the conditioned modes are compared with the SAME
engine's ``processor, none conditioned`` run: that difference is the work of conditioning and
nothing else, and it is the one the ≤ 5% target ("the strategy logits processor costs ≤ 5% of
decode throughput on the tiny model") is judged on. ``processor, none conditioned`` is in turn
compared with the plain engine: loading the processor (an idle ``apply()`` and
``update_state()`` per step) plus the instance effect, which one run cannot separate. The
micro-benchmark's "none conditioned" share of a step is the idle processor's cost without any
instance effect; ``--processor-first`` builds the processor engine first, so runs in both
orders show how much of the plain-vs-processor difference follows the build order (a process
holds its engines for the whole run; building them anew in alternating order inside one run
would pay vLLM's start-up between measurements and lose the interleaving).

Each change is given twice: the ratio of the two medians, and the median over repeats of the
ratio of the two runs of one repeat and batch ("paired"; both run within the same rotation of
the four modes, seconds apart, so slow drift of the machine cancels in each ratio). The first
is robust to one odd run of either mode, the second to drift; when they disagree by more than
a point or two, the run was noisy and neither is to be trusted alone.

Without ``--model`` it builds the tests' tiny random Llama (hidden 64, 2 layers, vocabulary
512; ``tests/support/tiny_llama.py`` of this checkout) and a seeded random [8, V]
bias table in a temporary folder. Needs vLLM (its CPU build is in ``.venv``); figures, not
assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

MODES = (
    "no processor",
    "processor, none conditioned",
    "processor, all conditioned",
    "processor, all mixture",
    "processor, mixture, torch step",
)
# What each mode's change is measured against. Conditioning against the same engine idle: the
# two engine instances differ in speed by themselves (see the module docstring).
BASELINES = {
    MODES[1]: MODES[0],
    MODES[2]: MODES[1],
    MODES[3]: MODES[1],
    MODES[4]: MODES[1],
}
BASELINE_LABELS = {
    MODES[0]: "plain engine (loading + instance)",
    MODES[1]: "same engine, none conditioned",
}
# apply_microbenchmark's cases, in the report's order.
APPLY_LABELS = ("none conditioned", "all conditioned", "all mixture", "mixture, torch step")
_COLUMNS = "none / all / mixture / torch step"
# A predictor-like distribution: every strategy possible, one preferred.
MIXTURE = (0.05, 0.10, 0.15, 0.30, 0.10, 0.10, 0.10, 0.10)
# The same mixture reordered, for the PyTorch-step mode: the processor prepares its step when
# the batch's conditioning changes, and a batch identical to the previous run's would keep the
# native step it prepared then.
TORCH_STEP_MIXTURE = MIXTURE[::-1]
_TINY_LLAMA = Path(__file__).resolve().parents[2] / "tests/support/tiny_llama.py"


def build_tiny_model(folder: Path) -> Path:
    """The tests' tiny random Llama, written to ``folder`` (the tests own the builder, so the
    benchmark measures exactly the model the engine tests run)."""
    if not _TINY_LLAMA.exists():
        raise SystemExit(f"no --model given and {_TINY_LLAMA} is absent (not a checkout?)")
    spec = importlib.util.spec_from_file_location("_solace_tiny_llama", _TINY_LLAMA)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build_tiny_llama(folder)
    return folder


def build_random_table(model: Path, path: Path, seed: int = 0) -> Path:
    """A seeded N(0, 1) [8, V] bias table (clipped to ±5, like real tables) bound to the model's
    tokenizer: the processor's cost does not depend on what the table says."""
    import numpy as np
    from transformers import AutoTokenizer

    from kernels.bias_table import BiasTable, save_bias_table, tokenizer_identity
    from kernels.strategies import NUM_STRATEGIES

    tokenizer = AutoTokenizer.from_pretrained(str(model))
    identity = tokenizer_identity(tokenizer, str(model))
    rng = np.random.default_rng(seed)
    bias = np.clip(rng.standard_normal((NUM_STRATEGIES, identity.vocab_size)), -5, 5)
    table = BiasTable(
        bias=bias.astype(np.float32),
        tokenizer=identity,
        smoothing=1.0,
        clip=5.0,
        turns_per_strategy=(1,) * NUM_STRATEGIES,
        source="random (benchmark)",
    )
    return save_bias_table(table, path)


def _prompts(batch: int) -> list[str]:
    # Words of the tiny model's vocabulary (w3 … w511); any tokenizer reads them as text.
    return [" ".join(f"w{3 + (i * 7 + j) % 500}" for j in range(8)) for i in range(batch)]


def _time_generate(llm: Any, prompts: list[str], params: Any) -> float:
    started = time.perf_counter()
    llm.generate(prompts, [params] * len(prompts), use_tqdm=False)
    return time.perf_counter() - started


def _timed_processor(table: str, timings: dict[tuple[int, str], list[float]], current: list):
    """The processor bound to ``table``, recording each ``apply()``'s seconds under
    ``current[0]`` (a (batch, mode) key; nothing while it is None, during the warm-up)."""
    from kernels.logits_processor import make_logits_processor

    base = make_logits_processor(table)

    class TimedStrategyMixtureLogitsProcessor(base):
        def apply(self, logits):
            started = time.perf_counter()
            out = super().apply(logits)
            if current[0] is not None:
                timings.setdefault(current[0], []).append(time.perf_counter() - started)
            return out

    return TimedStrategyMixtureLogitsProcessor


def engine_throughput(
    model: str,
    table: str,
    batches: Sequence[int],
    tokens: int,
    repeats: int,
    processor_first: bool = False,
    apply_seconds: dict[tuple[int, str], list[float]] | None = None,
) -> dict[tuple[int, str], list[float]]:
    """tokens/s per (batch, mode), ``repeats`` values each (value i from repeat i), measured
    interleaved. ``processor_first`` builds the processor engine before the plain one.
    ``apply_seconds`` (filled when given): every ``apply()`` call's seconds inside the engine
    per (batch, mode), the timed runs only."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM, SamplingParams

    options = {"enforce_eager": True, "seed": 0, "dtype": "float32", "max_model_len": 256}
    current: list = [None]
    timings = {} if apply_seconds is None else apply_seconds
    processor = [_timed_processor(table, timings, current)]
    if processor_first:
        with_processor = LLM(model, logits_processors=processor, **options)
        plain = LLM(model, **options)
    else:
        plain = LLM(model, **options)
        with_processor = LLM(model, logits_processors=processor, **options)

    def params(extra: dict | None) -> Any:
        return SamplingParams(max_tokens=tokens, temperature=0, ignore_eos=True, extra_args=extra)

    mixture = params({"strategy_probs": list(MIXTURE), "strategy_strength": 1.0})
    runs = {
        MODES[0]: (plain, params(None)),
        MODES[1]: (with_processor, params(None)),
        MODES[2]: (with_processor, params({"strategy": 0, "strategy_strength": 1.0})),
        MODES[3]: (with_processor, mixture),
        MODES[4]: (
            with_processor,
            params({"strategy_probs": list(TORCH_STEP_MIXTURE), "strategy_strength": 1.0}),
        ),
    }
    # Warm-up, every mode at every batch size: the first run of a shape pays allocations and
    # lazy imports (up to 2x slower), which would land on whichever mode runs first.
    for batch in batches:
        for mode, (llm, sampling) in runs.items():
            with _native_step(mode != MODES[4]):
                _time_generate(llm, _prompts(batch), sampling)
    results: dict[tuple[int, str], list[float]] = {}
    order = list(runs)
    for repeat in range(repeats):
        for batch in batches:
            prompts = _prompts(batch)
            # Rotate the order each repetition: whichever mode runs first after a switch of
            # batch size would otherwise always pay (or dodge) the same cache effects.
            shift = repeat % len(order)
            for mode in order[shift:] + order[:shift]:
                llm, sampling = runs[mode]
                current[0] = (batch, mode)
                with _native_step(mode != MODES[4]):
                    seconds = _time_generate(llm, prompts, sampling)
                current[0] = None
                results.setdefault((batch, mode), []).append(batch * tokens / seconds)
    return results


def apply_microbenchmark(
    table: str, batch: int, vocab: int | None = None, steps: int = 300, repeats: int = 7
) -> dict[str, float]:
    """Median µs of one ``apply()`` on fake batch state (``batch`` rows), no row and every row
    conditioned, with the table the engine loads; logits are fresh clones (vLLM hands over a
    new tensor each step), the clone not timed."""
    import torch

    from kernels.bias_table import load_bias_table

    bias = load_bias_table(table).to_tensor(vocab_size=vocab)
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn((batch, bias.shape[1]), generator=generator)
    figures = {}
    for label, extra in (
        ("none conditioned", None),
        ("all conditioned", {"strategy": 0}),
        ("all mixture", {"strategy_probs": list(MIXTURE)}),
        ("mixture, torch step", {"strategy_probs": list(TORCH_STEP_MIXTURE)}),
    ):
        with _native_step(label != "mixture, torch step"):
            figures[label] = _time_apply(logits, bias, batch, extra, steps, repeats)
    return figures


def _time_apply(logits: Any, bias: Any, batch: int, extra: Any, steps: int, repeats: int) -> float:
    """Median µs of one ``apply_conditioning`` on ``batch`` rows that all carry ``extra``."""
    from kernels.logits_processor import ConditioningBatch, apply_conditioning

    state = ConditioningBatch(bias.shape[0])
    added = [(i, SimpleNamespace(extra_args=extra), [], []) for i in range(batch)]
    state.update(SimpleNamespace(batch_size=batch, removed=[], added=added, moved=[]))
    for _ in range(50):
        apply_conditioning(logits.clone(), bias, state)
    samples = []
    for _ in range(repeats):
        work = [logits.clone() for _ in range(steps)]
        started = time.perf_counter()
        for tensor in work:
            apply_conditioning(tensor, bias, state)
        samples.append((time.perf_counter() - started) / steps * 1e6)
    return statistics.median(samples)


@contextlib.contextmanager
def _native_step(on: bool) -> Iterator[None]:
    """The native mixture step switched off for the block (``SOLACE_NATIVE_MIXTURE=0``) unless
    ``on``; ``on`` leaves the environment as the run was started (so a run started with the
    native step off measures the PyTorch step in both mixture modes). The processor reads the
    switch when it prepares a step, i.e. when the batch's conditioning changes: hence the
    reordered mixture of the PyTorch-step mode."""
    from kernels.strategy_mixture.native import ENV_SWITCH

    if on:
        yield
        return
    previous = os.environ.get(ENV_SWITCH)
    os.environ[ENV_SWITCH] = "0"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[ENV_SWITCH]
        else:
            os.environ[ENV_SWITCH] = previous


def native_step_description() -> str:
    """What the 'all mixture' rows ran: the native step and how it was built, or why not."""
    from kernels.strategy_mixture import native

    found = native.load()
    if found is None:
        why = "switched off" if not native.enabled() else "no C compiler or the build failed"
        return f"native step unavailable here ({why}): both mixture modes ran the PyTorch step"
    kind = "vectorised exp/log" if found.vectorised else "scalar exp/log"
    return (
        f"'all mixture' ran the fused native step ({kind}); 'mixture, torch step' the PyTorch step"
    )


def change(values: Sequence[float], baseline: Sequence[float]) -> tuple[float, float]:
    """(ratio of the medians − 1, median of the per-repeat ratios − 1) of ``values`` against
    ``baseline``, both tokens/s listed by repeat; negative: slower. The ratio of medians
    shrugs off one odd run, the paired one the machine's slow drift (see the module
    docstring), so the report gives both."""
    of_medians = statistics.median(values) / statistics.median(baseline) - 1
    paired = statistics.median(v / b for v, b in zip(values, baseline, strict=True)) - 1
    return of_medians, paired


def report(
    results: dict[tuple[int, str], list[float]],
    micro: dict[int, dict[str, float]],
    batches: Sequence[int],
    tokens: int,
    repeats: int,
    processor_first: bool = False,
    inside: dict[int, dict[str, float]] | None = None,
    native: str | None = None,
) -> str:
    """The printed tables: engine throughput with each mode's change against its baseline
    (conditioning against the same engine idle), then apply() per step: micro-benchmarked
    (``micro``) and, when given, as timed inside the engine (``inside``), both µs by batch and
    ``APPLY_LABELS`` label. ``native`` says which step the mixture modes ran."""
    built = "processor engine first" if processor_first else "plain engine first"
    lines = [
        f"vLLM strategy processor, {tokens} greedy tokens per request, median of {repeats} "
        f"(interleaved); {platform.machine()}, {os.cpu_count()} CPUs; built {built}",
        "change of tokens/s against the row's baseline (negative: slower); 'of medians': ratio "
        "of the two medians, 'paired': median over repeats of the two runs' ratio",
        "  all conditioned / all mixture: against the SAME engine's 'processor, none "
        "conditioned' = the cost of conditioning (the ≤ 5% target)",
        "  none conditioned: against the plain engine = loading the processor + the difference "
        "between two engine instances",
        *([f"  {native}"] if native else []),
        f"{'batch':>5}  {'mode':<30} {'tokens/s':>9} {'min–max':>15}  {'of medians':>10} "
        f"{'paired':>7}  baseline",
    ]
    for batch in batches:
        for mode in MODES:
            values = results[(batch, mode)]
            spread = f"{min(values):,.0f}–{max(values):,.0f}"
            row = f"{batch:>5}  {mode:<30} {statistics.median(values):>9,.0f} {spread:>15}"
            if mode in BASELINES:
                base = BASELINES[mode]
                of_medians, paired = change(values, results[(batch, base)])
                row += (
                    f"  {of_medians * 100:>+9.1f}% {paired * 100:>+6.1f}%  {BASELINE_LABELS[base]}"
                )
            else:
                row += f"  {'–':>10} {'–':>7}  –"
            lines.append(row)
    lines.append("")
    lines.append(
        f"{'batch':>5}  {'apply() µs/step: ' + _COLUMNS:>52}  {'decode step µs':>14}  "
        f"apply share of a step ({_COLUMNS})"
    )
    lines.append(
        "       decode step: the processor engine with none conditioned; 'none' is the idle "
        "processor's cost, free of the instance effect"
    )
    for batch in batches:
        step_us = _step_us(results, batch)
        times, percents = _apply_cells(micro[batch], step_us)
        lines.append(f"{batch:>5}  {times:>52}  {step_us:>14.0f}  {percents}")
    if inside:
        lines.append("")
        lines.append(
            f"{'batch':>5}  {'apply() in the engine µs/call: ' + _COLUMNS:>66}  "
            f"share of a step ({_COLUMNS})"
        )
        lines.append(
            "       median of every call in the timed runs: the same operations as above, after "
            "a model step instead of back to back (colder caches)"
        )
        for batch in batches:
            times, percents = _apply_cells(inside[batch], _step_us(results, batch))
            lines.append(f"{batch:>5}  {times:>66}  {percents}")
    return "\n".join(lines)


def _step_us(results: dict[tuple[int, str], list[float]], batch: int) -> float:
    """µs per decode step of the processor engine with none conditioned (median tokens/s)."""
    return batch / statistics.median(results[(batch, MODES[1])]) * 1e6


def _apply_cells(apply_us: dict[str, float], step_us: float) -> tuple[str, str]:
    """(µs per ``APPLY_LABELS`` case, the same as shares of a step) for one batch's row."""
    values = [apply_us[label] for label in APPLY_LABELS]
    times = " / ".join(f"{us:.1f}" for us in values)
    return times, " / ".join(f"{us / step_us * 100:.1f}%" for us in values)


def inside_medians(
    apply_seconds: dict[tuple[int, str], list[float]], batches: Sequence[int]
) -> dict[int, dict[str, float]]:
    """µs per ``apply()`` call inside the engine, median by batch and ``APPLY_LABELS`` label
    (the processor engine's modes, in the same order)."""
    return {
        batch: {
            label: statistics.median(apply_seconds[(batch, mode)]) * 1e6
            for label, mode in zip(APPLY_LABELS, MODES[1:], strict=True)
        }
        for batch in batches
    }


def run(
    model: str | None = None,
    bias_table: str | None = None,
    batches: Sequence[int] = (8, 64),
    tokens: int = 64,
    repeats: int = 5,
    processor_first: bool = False,
) -> str:
    """Build what is missing, measure, and return the printed report."""
    with tempfile.TemporaryDirectory(prefix="solace-vllm-bench-") as scratch:
        model_dir = Path(model) if model else build_tiny_model(Path(scratch) / "tiny-llama")
        table = bias_table or str(build_random_table(model_dir, Path(scratch) / "table.npz"))
        apply_seconds: dict[tuple[int, str], list[float]] = {}
        results = engine_throughput(
            str(model_dir), table, batches, tokens, repeats, processor_first, apply_seconds
        )
        micro = {batch: apply_microbenchmark(table, batch) for batch in batches}
    inside = inside_medians(apply_seconds, batches)
    native = native_step_description()
    return report(results, micro, batches, tokens, repeats, processor_first, inside, native)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="Hugging Face causal-LM folder (default: tiny Llama)")
    parser.add_argument("--bias-table", help="kernels.bias_table file (default: random)")
    parser.add_argument("--batches", default="8,64", help="comma-separated batch sizes")
    parser.add_argument("--tokens", type=int, default=64, help="greedy tokens per request")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--processor-first",
        action="store_true",
        help="build the processor engine before the plain one (run both orders to see how "
        "much of the plain-vs-processor difference follows the build order)",
    )
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    print(
        run(
            args.model,
            args.bias_table,
            batches,
            args.tokens,
            args.repeats,
            args.processor_first,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
