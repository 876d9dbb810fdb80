"""``solace eval conditioning``: does the ``llamacpp`` engine's strategy conditioning steer the
reply without breaking it, and what does it cost?

Every one of the 20 everyday seeker messages of the load tests (``loadtests.messages.EVERYDAY``)
is answered under each of 4 strategies (``STRATEGIES_SHOWN``) with the DIRECT method's reply
prompt (the strategy's guidance in the system message), greedy, at most ``--max-tokens`` (50)
tokens, on the built SmolLM2-135M-Instruct, once per mode:

- **prompt only**: no bias (the engine without its table);
- **constant λ**: the bias table at a fixed strength for the whole reply (the vLLM processor's
  way), no repeat rule;
- **decay**: full strength for the first k tokens, then halved every ``half-life`` tokens, and
  a token generated ``n`` times loses its positive bias (``kernels.llamacpp_processor``).

Scored per reply:

- **adherence**: the strategy service's utterance classifier (``StrategyModel``, trained on
  ESConv supporter turns) reads the requested strategy. The classifier judges only: nothing
  here selects among candidates with it;
- **looping**: a word 3-gram three times, or one word eight times, in the reply;
- **on target and not looping**: both at once (the share a seeker would find helpful and
  readable, as far as these two checks can tell).

Then the cost, side by side in one run: the same prompts decoded without the processor and
with the default schedule, alternately (``--speed-rounds`` rounds), decode tokens/s after the
first token (median over requests), and the processor's own time per call measured inside the
engine against the engine's time per token. Figures, not assertions::

    solace eval conditioning
    python -m tools.evaluation.conditioning --messages 5 --modes "prompt only" "decay 3/4/4/2"
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence

from kernels.llamacpp_processor import BiasSchedule
from services.common.config import Settings, load_settings
from services.common.domain import SEEKER, Conversation, Turn
from services.common.labels import STRATEGIES, strategy_index
from services.generator.engines.base import DecodingOptions, Prompt

MAX_TOKENS = 50
STRATEGIES_SHOWN = (
    "Question",
    "Reflection of feelings",
    "Self-disclosure",
    "Providing Suggestions",
)
_WORD = re.compile(r"[a-z']+")


def _named(strength: float, full: int = 0, half_life: float = 0.0, repeats: int = 0):
    schedule = BiasSchedule(strength, full, half_life, repeats)
    if half_life == 0:
        name = f"constant {strength:g}" + (f", n {repeats}" if repeats else "")
    else:
        name = f"decay {strength:g}/{full}/{half_life:g}/{repeats}"
    return name, schedule


# name -> schedule (None: the prompt only). "decay λ/k/half-life/n", "constant λ[, n]".
MODES: dict[str, BiasSchedule | None] = dict(
    [
        ("prompt only", None),
        _named(1.0),
        _named(2.0),
        _named(3.0),
        _named(2.0, repeats=2),
        _named(2.0, 8, 8.0, 2),
        _named(3.0, 4, 8.0, 2),
        _named(3.0, 8, 16.0, 2),
        _named(3.0, repeats=2),
        _named(4.0, 6, 12.0, 2),
        _named(4.0, 8, 16.0, 2),
        _named(3.0, 12, 24.0, 2),
    ]
)


def loops(text: str) -> bool:
    """A word 3-gram three times or one word eight times: the reply repeats itself."""
    words = _WORD.findall(text.lower())
    if words and Counter(words).most_common(1)[0][1] >= 8:
        return True
    trigrams = Counter(zip(words, words[1:], words[2:], strict=False))
    return bool(trigrams) and trigrams.most_common(1)[0][1] >= 3


def prompts(messages: Sequence[str], strategies: Sequence[int], max_tokens: int) -> list[Prompt]:
    from services.generator.methods.direct import REPLY_INSTRUCTION

    return [
        Prompt(
            step="direct.reply",
            conversation=Conversation(turns=(Turn(SEEKER, message),)),
            instruction=REPLY_INSTRUCTION,
            strategy=strategy,
            options=DecodingOptions(max_tokens=max_tokens),
        )
        for message in messages
        for strategy in strategies
    ]


@dataclasses.dataclass(frozen=True)
class Scores:
    mode: str
    replies: int
    on_target: int
    looping: int
    both: int
    per_strategy: dict[int, int]  # on target and not looping, per requested strategy
    mean_tokens: float


def score(
    mode: str,
    prompts_: Sequence[Prompt],
    texts: Sequence[str],
    read: Sequence[int],
    tokens: Sequence[int],
) -> Scores:
    on = [p.strategy == r for p, r in zip(prompts_, read, strict=True)]
    looped = [loops(t) for t in texts]
    good = [o and not lp for o, lp in zip(on, looped, strict=True)]
    per: Counter[int] = Counter()
    for prompt, ok in zip(prompts_, good, strict=True):
        per[prompt.strategy] += ok
    return Scores(
        mode,
        len(texts),
        sum(on),
        sum(looped),
        sum(good),
        dict(per),
        statistics.mean(tokens) if tokens else 0.0,
    )


class _Timed:
    """One processor, its calls timed (and skipped like it once it is finished)."""

    def __init__(self, inner, seconds: list[float]) -> None:
        self.inner, self.seconds = inner, seconds

    @property
    def finished(self) -> bool:
        return getattr(self.inner, "finished", False)

    def __call__(self, input_ids, scores):
        started = time.perf_counter()
        out = self.inner(input_ids, scores)
        self.seconds.append(time.perf_counter() - started)
        return out


class _TimedProcessors:
    """Stands in for the engine's processor factory and times every processor call."""

    def __init__(self, engine) -> None:
        self.seconds: list[float] = []
        self._inner = engine.logits_processor

    def __call__(self, prompt: Prompt):
        processors = self._inner(prompt)
        if processors is None:
            return None
        return type(processors)([_Timed(p, self.seconds) for p in processors])


async def _decode_rate(engine, prompt: Prompt) -> tuple[float, int]:
    """(decode tokens/s after the first delta, reply tokens) of one streamed generation."""
    from tools.benchmarks.llm import stream_timed

    timed = await stream_timed(engine, prompt)
    return timed.decode_tok_s, timed.tokens


async def _evaluate(
    settings: Settings, modes: Sequence[str], messages: int, max_tokens: int, speed_rounds: int
):
    from loadtests.messages import EVERYDAY
    from services.generator.engines.llamacpp_engine import LlamaCppEngine, strategy_schedule
    from services.generator.engines.llm_files import built_bias_table_path, built_llm_path
    from services.strategy.model import StrategyModel

    table = built_bias_table_path(settings)
    if not table.is_file():
        raise SystemExit(f"no strategy bias table at {table}: run solace models build")
    engine = LlamaCppEngine(
        built_llm_path(settings), n_threads=settings.llm.threads, bias_table=table
    )
    judge = StrategyModel(settings)
    strategies = [strategy_index(name) for name in STRATEGIES_SHOWN]
    batch = prompts(EVERYDAY[:messages], strategies, max_tokens)
    rows: list[Scores] = []
    examples: dict[str, list[str]] = {}
    try:
        await engine.complete(batch[:1])  # loads the model
        for mode in modes:
            engine.schedule = MODES[mode] or BiasSchedule(0.0)
            texts = await engine.complete(batch)
            read = [judge.classify_utterance(t).index for t in texts]
            rows.append(score(mode, batch, texts, read, [engine.count_tokens(t) for t in texts]))
            examples[mode] = texts[: len(strategies)]
        speed = None
        if speed_rounds > 0:
            speed = await _speed(engine, strategy_schedule(settings.llm), batch, speed_rounds)
    finally:
        await engine.close()
    return rows, examples, speed, engine.version, strategies


async def _speed(engine, schedule: BiasSchedule, batch: Sequence[Prompt], rounds: int):
    """Alternately without and with the processor on the same prompts."""
    timer = _TimedProcessors(engine)
    engine.logits_processor = timer  # instance attribute: this engine only
    plain: list[float] = []
    conditioned: list[float] = []
    tokens = 0
    for _ in range(rounds):
        for prompt in batch:
            engine.schedule = BiasSchedule(0.0)
            rate, _ = await _decode_rate(engine, prompt)
            plain.append(rate)
            engine.schedule = schedule
            rate, count = await _decode_rate(engine, prompt)
            conditioned.append(rate)
            tokens += count
    del engine.logits_processor
    calls = timer.seconds
    return {
        "plain": plain,
        "conditioned": conditioned,
        "paired": [c / p for c, p in zip(conditioned, plain, strict=True)],
        "processor_us": statistics.median(calls) * 1e6 if calls else 0.0,
        "processor_us_mean": statistics.mean(calls) * 1e6 if calls else 0.0,
        "calls_per_reply": len(calls) / max(1, len(conditioned)),
        "schedule": schedule,
    }


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.0f}%" if whole else "n/a"


def render(rows, examples, speed, version, strategies, max_tokens, messages) -> str:
    load = os.getloadavg()
    lines = [
        f"llamacpp engine, {version}: {messages} everyday seeker messages x {len(strategies)} "
        f"strategies ({', '.join(STRATEGIES[s] for s in strategies)}), DIRECT reply prompt, "
        f"greedy, max_tokens {max_tokens}; {platform.node()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} at the end; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| mode (decay: λ/k/half-life/n) | adherence | looping | on target and not looping | "
        + " | ".join(f"{STRATEGIES[s]}: on target, not looping" for s in strategies)
        + " | reply tokens (mean) |",
        "|---|---|---|---|" + "---|" * len(strategies) + "---|",
    ]
    per = messages
    for r in rows:
        lines.append(
            f"| {r.mode} | {_pct(r.on_target, r.replies)} | {_pct(r.looping, r.replies)} | "
            f"{_pct(r.both, r.replies)} | "
            + " | ".join(f"{r.per_strategy.get(s, 0)}/{per}" for s in strategies)
            + f" | {r.mean_tokens:.1f} |"
        )
    lines += [
        "",
        "adherence = the strategy service's utterance classifier reads the requested strategy; "
        "looping = a word 3-gram three times or a word eight times in one reply.",
        "",
        "Replies to the first message, per mode and strategy:",
    ]
    for mode, texts in examples.items():
        for strategy, text in zip(strategies, texts, strict=False):
            lines.append(f"- {mode}, {STRATEGIES[strategy]}: {' '.join(text.split())!r}")
    if speed:
        s: BiasSchedule = speed["schedule"]
        plain, cond = statistics.median(speed["plain"]), statistics.median(speed["conditioned"])
        step_us = 1e6 / plain
        lines += [
            "",
            f"Decode throughput, the same {len(speed['plain'])} requests alternately without and "
            f"with the processor (default schedule: λ {s.strength:g}, k {s.full_tokens}, "
            f"half-life {s.half_life:g}, n {s.max_repeats}); tokens/s after the first token:",
            "",
            "| | decode tok/s, median (min–max) |",
            "|---|---|",
            f"| no processor | {plain:.1f} ({min(speed['plain']):.1f}–{max(speed['plain']):.1f}) |",
            f"| with the processor | {cond:.1f} ({min(speed['conditioned']):.1f}–"
            f"{max(speed['conditioned']):.1f}) |",
            f"| ratio of medians / median of paired ratios | {cond / plain:.3f} / "
            f"{statistics.median(speed['paired']):.3f} |",
            "",
            f"The processor inside the engine: {speed['processor_us']:.0f} µs per call (median; "
            f"mean {speed['processor_us_mean']:.0f} µs; {speed['calls_per_reply']:.0f} calls per "
            f"reply), {100 * speed['processor_us_mean'] / step_us:.2f}% of the engine's "
            f"{step_us / 1000:.1f} ms per token without it. (llama-cpp-python's own cost of a "
            "Python sampler step, outside the processor, is in the throughput ratio only.)",
        ]
    return "\n".join(lines)


def run(
    settings: Settings,
    modes: Sequence[str] | None = None,
    messages: int = 20,
    max_tokens: int = MAX_TOKENS,
    speed_rounds: int = 1,
) -> str:
    modes = list(modes or MODES)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise SystemExit(f"unknown modes {unknown}; known: {list(MODES)}")
    rows, examples, speed, version, strategies = asyncio.run(
        _evaluate(settings, modes, messages, max_tokens, speed_rounds)
    )
    return render(rows, examples, speed, version, strategies, max_tokens, messages)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", help=f"default: all of {list(MODES)}")
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--speed-rounds", type=int, default=1, help="0: no speed table")
    args = parser.parse_args(argv)
    print(run(load_settings(), args.modes, args.messages, args.max_tokens, args.speed_rounds))


if __name__ == "__main__":
    main()
