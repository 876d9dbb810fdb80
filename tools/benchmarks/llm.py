"""Throughput and first-token latency of the ``llamacpp`` engine (``solace bench llm``).

Three rows, on the engine's model (``Settings.llm.model``, default the built SmolLM2-135M-Instruct
Q4_1) with ``Settings.llm.threads`` llama.cpp threads (``--threads`` here takes several):

- **one stream**: ``--prompts`` requests one after the other, streamed, ``--max-tokens`` each
  (greedy, the DIRECT method's reply prompt): tokens/s = reply tokens / wall time of the request
  (prompt evaluation included), and the decode rate after the first token;
- **time to first token**: from the ``stream`` call to its first delta, the same requests;
- **N concurrent** (``--concurrency``, default 8): ``--prompts`` rounds of N requests sent at
  once; tokens/s = all reply tokens of a round / its wall time, and each request's latency. The
  engine has one llama.cpp context and decodes one request at a time, so N concurrent requests
  queue: the aggregate rate stays that of one stream, and latency grows with the queue.

A fourth table puts the platform beside the bare engine, side by side in one run: each fresh
seeker message goes once to ``Support/Respond`` (the Support pipeline over the services in this
process, the DIRECT method on the default engine: screening, classifiers, generation, output
screen) and once, alternately, to a bare engine of the same model with the DIRECT reply prompt
for that message; tokens/s = reply tokens / wall time of the call, and Respond's latency.

Every request is a new seeker turn (``loadtests.messages.fresh_turn``), so no two requests share
a prompt beyond the system message (llama-cpp-python reuses the longest common prefix of the
previous prompt, as it would in serving). Reply tokens are counted with the model's tokenizer;
a reply may end before ``--max-tokens`` at the model's end-of-turn token, and the table gives
the mean length. One unmeasured request first loads the model. Figures, not assertions::

    solace bench llm
    python -m tools.benchmarks.llm --threads 1 2 --prompts 5
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import random
import statistics
import time

from services.common.config import Settings, load_settings
from services.common.domain import SEEKER, Conversation, Turn
from services.generator.engines.base import DecodingOptions, Engine, Prompt
from services.generator.engines.llamacpp_engine import LlamaCppEngine
from services.generator.methods.direct import REPLY_INSTRUCTION

MAX_TOKENS = 60
PROMPTS = 5
CONCURRENCY = 8
REFLECTION = 2  # labels.STRATEGIES: "Reflection of feelings"


@dataclasses.dataclass(frozen=True)
class Row:
    threads: int
    stream_tok_s: list[float]
    decode_tok_s: list[float]
    ttft_ms: list[float]
    stream_tokens: list[int]
    concurrent_tok_s: list[float]
    concurrent_latency_s: list[float]
    concurrent_tokens: list[int]


def _prompts(count: int, rng: random.Random) -> list[Prompt]:
    from loadtests.messages import EVERYDAY, fresh_turn

    out = []
    for _ in range(count):
        turn = Turn(SEEKER, fresh_turn(rng.choice(EVERYDAY), rng))
        out.append(
            Prompt(
                step="direct.reply",
                conversation=Conversation(turns=(turn,)),
                instruction=REPLY_INSTRUCTION,
                strategy=REFLECTION,
                options=DecodingOptions(max_tokens=MAX_TOKENS),
            )
        )
    return out


@dataclasses.dataclass(frozen=True)
class Streamed:
    """One streamed generation, timed: start, first delta and end (perf_counter seconds) and
    the reply's tokens by the engine's own count."""

    started: float
    first: float
    ended: float
    tokens: int

    @property
    def decode_tok_s(self) -> float:
        """Tokens per second after the first delta (the decode rate, prefill left out)."""
        return (self.tokens - 1) / max(1e-9, self.ended - self.first)


async def stream_timed(engine: Engine, prompt: Prompt) -> Streamed:
    """Stream ``prompt`` through ``engine`` and time it."""
    parts: list[str] = []
    started = time.perf_counter()
    first = 0.0
    async for delta in engine.stream(prompt):
        if not parts:
            first = time.perf_counter()
        parts.append(delta)
    ended = time.perf_counter()
    return Streamed(started, first, ended, engine.count_tokens("".join(parts)))


async def _measure(
    engine: LlamaCppEngine, prompts: int, concurrency: int, rng: random.Random
) -> Row:
    await engine.complete(_prompts(1, rng))  # loads the model
    stream_tok_s, decode_tok_s, ttft_ms, stream_tokens = [], [], [], []
    for prompt in _prompts(prompts, rng):
        timed = await stream_timed(engine, prompt)
        started, first, ended, tokens = timed.started, timed.first, timed.ended, timed.tokens
        stream_tokens.append(tokens)
        stream_tok_s.append(tokens / (ended - started))
        decode_tok_s.append(timed.decode_tok_s)
        ttft_ms.append((first - started) * 1000.0)

    concurrent_tok_s, latency_s, concurrent_tokens = [], [], []
    for _ in range(prompts):
        batch = _prompts(concurrency, rng)

        async def timed(prompt: Prompt, started: float) -> tuple[str, float]:
            (text,) = await engine.complete([prompt])
            return text, time.perf_counter() - started

        started = time.perf_counter()
        answers = await asyncio.gather(*(timed(p, started) for p in batch))
        wall = time.perf_counter() - started
        tokens = [engine.count_tokens(text) for text, _ in answers]
        concurrent_tokens.extend(tokens)
        concurrent_tok_s.append(sum(tokens) / wall)
        latency_s.extend(latency for _, latency in answers)
    return Row(
        engine.n_threads,
        stream_tok_s,
        decode_tok_s,
        ttft_ms,
        stream_tokens,
        concurrent_tok_s,
        latency_s,
        concurrent_tokens,
    )


def _spread(values: list[float], digits: int = 1) -> str:
    """median (min–max)"""
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}–{max(values):.{digits}f})"
    )


def render(rows: list[Row], engine_version: str, prompts: int, concurrency: int) -> str:
    load = os.getloadavg()
    lines = [
        f"llamacpp engine, {engine_version}: {prompts} fresh seeker prompts per row, greedy, "
        f"max_tokens {MAX_TOKENS}; {platform.node()}, {os.cpu_count()} CPUs "
        f"({platform.machine()}), load average {load[0]:.2f} at the end; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| threads | one stream tok/s | decode tok/s (after the first token) | time to first "
        f"token ms | reply tokens (mean) | {concurrency} concurrent: tok/s (all requests) | "
        f"{concurrency} concurrent: latency s p50 / max | reply tokens (mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        latency = row.concurrent_latency_s
        lines.append(
            f"| {row.threads} | {_spread(row.stream_tok_s)} | {_spread(row.decode_tok_s)} | "
            f"{_spread(row.ttft_ms, 0)} | {statistics.mean(row.stream_tokens):.1f} | "
            f"{_spread(row.concurrent_tok_s)} | "
            f"{statistics.median(latency):.2f} / {max(latency):.2f} | "
            f"{statistics.mean(row.concurrent_tokens):.1f} |"
        )
    lines.append(
        "Median (min–max) over the prompts (one stream) or rounds (concurrent). Concurrent "
        "requests share one llama.cpp context and are decoded one after the other."
    )
    return "\n".join(lines)


def run(
    settings: Settings,
    threads: list[int] | None = None,
    prompts: int = PROMPTS,
    concurrency: int = CONCURRENCY,
    seed: int = 0,
) -> str:
    """The report for each thread count (default: ``Settings.llm.threads``)."""
    from services.generator.engines.llm_files import llm_model_path

    path = llm_model_path(settings)
    rng = random.Random(seed)

    async def measure_all() -> tuple[list[Row], str]:
        rows, version = [], ""
        for count in threads or [settings.llm.threads]:
            engine = LlamaCppEngine(path, n_threads=count)
            version = engine.version
            try:
                rows.append(await _measure(engine, prompts, concurrency, rng))
            finally:
                await engine.close()
        return rows, version

    rows, version = asyncio.run(measure_all())
    report = render(rows, version, prompts, concurrency)
    if settings.default_engine == "llamacpp":
        report += "\n\n" + asyncio.run(_platform_vs_engine(settings, path, prompts, rng))
    return report


async def _platform_vs_engine(settings: Settings, path, prompts: int, rng: random.Random) -> str:
    """Support/Respond (DIRECT, default engine) beside the bare engine on the same messages."""
    import tempfile

    from services.router.clients import LocalClients
    from services.router.pipeline import SupportPipeline
    from services.router.safety import RouterSafety
    from solace.v1 import common_pb2, generation_pb2, support_pb2

    audit = tempfile.mkdtemp(prefix="solace-bench-llm-")
    routed = settings.with_overrides(escalation_store_url=f"sqlite:///{audit}/audit.db")
    safety = RouterSafety(routed)
    pipeline = SupportPipeline(LocalClients.build(routed), safety, routed)
    bare = LlamaCppEngine(path, n_threads=settings.llm.threads)

    def ask(text: str) -> support_pb2.RespondRequest:
        return support_pb2.RespondRequest(
            conversation=common_pb2.Conversation(
                turns=[common_pb2.Turn(role=common_pb2.ROLE_SEEKER, text=text)]
            ),
            options=support_pb2.RespondOptions(
                method=common_pb2.GENERATION_METHOD_DIRECT,
                generation=generation_pb2.GenerationOptions(max_tokens=MAX_TOKENS),
            ),
        )

    # One unmeasured call each: models load, classifier sessions warm.
    warm = _prompts(1, rng)[0]
    await pipeline.respond(ask(warm.conversation.turns[-1].text))
    await bare.complete([warm])
    platform_tok_s, engine_tok_s, latency_ms, fell_back = [], [], [], 0
    for prompt in _prompts(prompts, rng):
        started = time.perf_counter()
        response = await pipeline.respond(ask(prompt.conversation.turns[-1].text))
        wall = time.perf_counter() - started
        latency_ms.append(wall * 1000.0)
        fell_back += response.generation.fell_back
        platform_tok_s.append(bare.count_tokens(response.reply) / wall)
        started = time.perf_counter()
        (text,) = await bare.complete([prompt])
        engine_tok_s.append(bare.count_tokens(text) / (time.perf_counter() - started))
    await bare.close()
    await safety.close()
    ratio = statistics.median(platform_tok_s) / statistics.median(engine_tok_s)
    return "\n".join(
        [
            f"Support/Respond beside the bare engine, alternately on {prompts} fresh messages "
            f"(DIRECT, max_tokens {MAX_TOKENS}, {settings.llm.threads} thread(s)):",
            "",
            "| | tokens/s | Respond latency ms p50 (min–max) |",
            "|---|---|---|",
            f"| Support/Respond | {_spread(platform_tok_s)} | {_spread(latency_ms, 0)} |",
            f"| bare engine | {_spread(engine_tok_s)} | |",
            f"| ratio (medians) | {ratio:.2f}x | {fell_back} of {prompts} replies fell back |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", help="llama.cpp threads (0 = cores)")
    parser.add_argument("--prompts", type=int, default=PROMPTS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(run(load_settings(), args.threads, args.prompts, args.concurrency, args.seed))


if __name__ == "__main__":
    main()
