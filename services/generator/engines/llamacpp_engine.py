"""The ``llamacpp`` engine: a GGUF chat model in this process, through llama-cpp-python.

By default the model is SmolLM2-135M-Instruct (Q4_1), which ``solace models build`` installs
under ``<models_dir>/llm``; ``Settings.llm.model`` names another GGUF file. The model's own chat
template (GGUF metadata) renders ``Prompt.messages()``: the system message, then the turns with
the seeker as ``user``, the same messages every chat engine gets.

Strategy conditioning: the strategy's guidance is in the system message, and a reply step
(``prompt.strategy_mixture`` set) is also decoded under the strategy bias table that the build
writes beside the GGUF (``kernels.bias_table``, built with this GGUF's own tokenizer, which
``GGUFTokenizer`` exposes): ``kernels.llamacpp_processor`` adds ``λ_t · Σ_s p(s) b_s`` to the
logits, at full strength for the opening tokens and decaying after them, and never pushes a
token the reply already used ``max_repeats`` times (``BiasSchedule``; the ``llm_strategy_*``
settings). ``options.strategy_strength`` overrides λ. Analysis steps are decoded untouched. The
table's tokenizer identity is checked against the model's when the engine is built.

One ``llama_cpp.Llama`` (one context of ``n_ctx`` 2048 tokens) is loaded on first use and kept.
A context is not thread-safe and holds one sequence at a time, so every generation takes the
engine's lock, and all of them run on the engine's own single worker thread: the asyncio loop is
never blocked, concurrent requests queue in arrival order instead of each holding a thread of
the loop's default executor, and they are decoded one after the other (no batching: N concurrent
requests take about N times as long as one). A request that is cancelled (the Generator's
deadline) or a stream that its reader abandons stops its generation at the next token, so the
context is free for the next request.

``complete`` and ``stream`` share one decoding path (llama-cpp-python's streamed chat completion),
so the joined deltas are exactly the completed text. Decoding: ``max_tokens`` (0 = 80),
``temperature`` (0 = greedy), ``seed`` (0 = llama.cpp's own), repeat penalty 1.15; the sampler
is llama-cpp-python's default chain (top-k 40, top-p 0.95, min-p 0.05) when the temperature is
above 0. The strategy processor runs first in that chain, before the repeat penalty.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from kernels.bias_table import mixture_row
from kernels.llamacpp_processor import BiasSchedule, ProcessorList, StrategyBiasProcessor
from services.common.config import LlmSettings
from services.generator.engines.base import DecodingOptions, Engine, Prompt

# A supportive reply is a few sentences (issue 20 sizes it at up to 60 tokens); longer ones from
# a 135M model mostly repeat themselves.
DEFAULT_MAX_TOKENS = 80
# SmolLM2-135M loops without it ("I'm sure you'll find a new home in no time." eight times in
# one greedy reply); 1.15 stopped that on the prompts tried without garbling the text (1.3 did).
REPEAT_PENALTY = 1.15
N_CTX = 2048
_DONE = object()
# Without settings (a test, a benchmark): prompt-only conditioning unless a schedule is given.
NO_BIAS = BiasSchedule(strength=0.0)


_PARAMS_LOCK = threading.Lock()


def open_llama(**kwargs: Any) -> Any:
    """``llama_cpp.Llama(**kwargs)`` without llama.cpp's extra weight buffer types
    (``use_extra_bufts``). On a CPU with AMX they send Q4_1 matrix products to ggml's AMX
    kernels, which died in this platform's VMs (SIGSEGV: a general protection fault at
    ``ldtilecfg`` in ``ggml_backend_amx_mul_mat``, on the first decode); Q4_1 has no other
    repacked layout, so SmolLM2 loses nothing. llama-cpp-python takes no argument for it, so
    the default parameters it starts from are adjusted while the model loads."""
    import llama_cpp.llama as module

    with _PARAMS_LOCK:
        defaults = module.llama_cpp.llama_model_default_params

        def without_extra_buffers() -> Any:
            params = defaults()
            params.use_extra_bufts = False
            return params

        module.llama_cpp.llama_model_default_params = without_extra_buffers
        try:
            return module.Llama(**kwargs)
        finally:
            module.llama_cpp.llama_model_default_params = defaults


class GGUFTokenizer:
    """A GGUF's own tokenizer (llama.cpp's, the one the engine decodes with) in the shape
    ``kernels.bias_table`` reads: ``get_vocab()`` (token text -> id, as the GGUF stores the
    texts) and ``tokenizer(texts, add_special_tokens=False)["input_ids"]`` (no BOS, special
    tokens read as text). ``llama`` is a ``llama_cpp.Llama`` (``vocab_only`` is enough)."""

    def __init__(self, llama: Any, name: str) -> None:
        self.llama = llama
        self.name_or_path = name

    @classmethod
    def from_gguf(cls, path: str | Path) -> GGUFTokenizer:
        """The tokenizer alone (``vocab_only``: no weights are loaded; a fraction of a second)."""
        from llama_cpp import Llama

        path = Path(path)
        return cls(Llama(model_path=str(path), vocab_only=True, verbose=False), path.name)

    def get_vocab(self, with_added_tokens: bool = True) -> dict[str, int]:
        model = self.llama._model  # llama-cpp-python's model wrapper: the vocabulary's texts
        return {model.token_get_text(i): i for i in range(self.llama.n_vocab())}

    def encode(self, text: str) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def __call__(self, texts: Sequence[str], add_special_tokens: bool = False) -> dict[str, Any]:
        return {"input_ids": [self.encode(text) for text in texts]}


def load_strategy_bias(table_path: str | Path, model_path: str | Path) -> Any:
    """The ``kernels.bias_table`` table at ``table_path``, checked against the GGUF's tokenizer
    (``TokenizerMismatchError`` when it was built with another one)."""
    from kernels.bias_table import load_bias_table, tokenizer_identity

    tokenizer = GGUFTokenizer.from_gguf(model_path)
    try:
        return load_bias_table(table_path, expected=tokenizer_identity(tokenizer))
    finally:
        tokenizer.llama.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def engine_version(model_path: Path) -> str:
    """``<file stem>@<sha256[:12]>`` when the build's manifest describes the file (the built
    SmolLM2), else the file name: a configured multi-GB file is not hashed at start-up."""
    from services.generator.engines.llm_files import llm_manifest

    manifest = llm_manifest(model_path)
    if manifest and manifest.get("sha256"):
        return f"{model_path.stem}@{str(manifest['sha256'])[:12]}"
    return model_path.name


def strategy_schedule(llm: LlmSettings) -> BiasSchedule:
    """The strategy bias schedule the engine's settings ask for (``SOLACE_LLM_STRATEGY_*``)."""
    return BiasSchedule(
        strength=llm.strategy_strength,
        full_tokens=llm.strategy_full_tokens,
        half_life=llm.strategy_half_life,
        max_repeats=llm.strategy_max_repeats,
    )


def sampling(options: DecodingOptions) -> dict[str, Any]:
    """``create_chat_completion`` keyword arguments for a prompt's decoding options (the
    strategy processor aside: ``LlamaCppEngine.logits_processor``)."""
    params: dict[str, Any] = {
        "max_tokens": options.max_tokens or DEFAULT_MAX_TOKENS,
        # llama-cpp-python samples greedily at temperature 0.
        "temperature": max(0.0, options.temperature),
        "repeat_penalty": REPEAT_PENALTY,
    }
    if options.seed:
        params["seed"] = options.seed
    return params


class LlamaCppEngine(Engine):
    """``model_path`` a GGUF file with a chat template; ``n_threads`` llama.cpp's CPU threads
    (0 = ``os.cpu_count()``); ``bias_table`` a ``kernels.bias_table`` file built with this GGUF's
    tokenizer (None: conditioning by the prompt only) and ``schedule`` how its bias is applied
    (λ 0: not at all)."""

    name = "llamacpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_threads: int = 0,
        n_ctx: int = N_CTX,
        bias_table: str | Path | None = None,
        schedule: BiasSchedule = NO_BIAS,
    ) -> None:
        import llama_cpp  # noqa: F401 - fail here, at configuration, when the package is missing

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"no GGUF model at {self.model_path}")
        self.version = engine_version(self.model_path)
        self.schedule = schedule
        self.bias: np.ndarray | None = None
        if bias_table is not None:
            # Checked here, at configuration: a table of another tokenizer must not start.
            self.bias = load_strategy_bias(bias_table, self.model_path).bias
            self.version += f"+bias@{_sha256(Path(bias_table))[:8]}"
        self.n_threads = n_threads or os.cpu_count() or 1
        self.n_ctx = n_ctx
        self._llama: Any = None
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")

    def logits_processor(self, prompt: Prompt) -> Any:
        """The strategy processor for one generation of ``prompt`` (a fresh one: it counts the
        reply's tokens), or None: an analysis step, no table, or λ 0."""
        mixture = prompt.strategy_mixture
        strength = prompt.options.strategy_strength or self.schedule.strength
        if self.bias is None or mixture is None or strength <= 0:
            return None
        schedule = dataclasses.replace(self.schedule, strength=strength)
        return ProcessorList([StrategyBiasProcessor(mixture_row(self.bias, mixture), schedule)])

    # --- the context (worker thread, under the lock) ----------------------------------------

    def _load(self) -> Any:
        if self._llama is None:
            self._llama = open_llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                verbose=False,
            )
        return self._llama

    def _generate(
        self, prompt: Prompt, emit: Callable[[str], None] | None, cancelled: threading.Event
    ) -> str:
        parts: list[str] = []
        with self._lock:
            llama = self._load()
            chunks = llama.create_chat_completion(
                messages=prompt.messages(),
                stream=True,
                logits_processor=self.logits_processor(prompt),
                **sampling(prompt.options),
            )
            try:
                for chunk in chunks:
                    if cancelled.is_set():
                        break
                    delta = chunk["choices"][0]["delta"].get("content") or ""
                    if delta:
                        parts.append(delta)
                        if emit is not None:
                            emit(delta)
            finally:
                chunks.close()
        return "".join(parts)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the model's vocabulary (no BOS): how long a reply is."""
        with self._lock:
            tokens = self._load().tokenize(text.encode("utf-8"), add_bos=False, special=False)
        return len(tokens)

    # --- the Engine interface ---------------------------------------------------------------

    async def _submit(self, prompt: Prompt, emit: Callable[[str], None] | None) -> str:
        cancelled = threading.Event()
        job = asyncio.get_running_loop().run_in_executor(
            self._worker, self._generate, prompt, emit, cancelled
        )
        try:
            return await job
        except asyncio.CancelledError:
            cancelled.set()  # a started generation stops at its next token
            raise

    async def complete(self, prompts: Sequence[Prompt]) -> list[str]:
        # One context: the prompts of a call are decoded one after the other.
        return [await self._submit(prompt, None) for prompt in prompts]

    async def stream(self, prompt: Prompt) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(delta: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, delta)

        job = loop.run_in_executor(self._worker, self._generate, prompt, emit, cancelled)
        # Runs on the loop after every delta the worker scheduled before finishing.
        job.add_done_callback(lambda _: queue.put_nowait(_DONE))
        try:
            while (item := await queue.get()) is not _DONE:
                yield item
            job.result()  # the worker's exception, if it raised
        finally:
            cancelled.set()  # a reader that stops early frees the context

    async def close(self) -> None:
        # The model goes (after any generation in progress); the idle worker thread stays, so
        # an engine that is used again reloads the model instead of failing.
        if self._llama is not None:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._release)

    def _release(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
