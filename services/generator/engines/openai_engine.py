"""The ``openai`` engine: any OpenAI-compatible completion server (a separately deployed vLLM,
for example), over ``POST {base_url}/v1/completions`` with aiohttp; ``stream`` reads its
server-sent events.

Strategy conditioning goes through the API's ``logit_bias`` (token id -> additive bias in
[-100, 100]). The bias is the strategy table of ``kernels.bias_table`` mixed by the request's
strategy probabilities: ``λ · Σ_s p(s) · b_s`` (one-hot on the requested strategy when no
mixture is given), restricted to its ``top_k`` largest magnitudes and clipped to ±100.

This is an approximation of what the in-process engine does. ``kernels.strategy_mixture``
decodes from ``log Σ_s p(s) softmax(logits + λ b_s)``, a mixture of distributions, while a
logit bias can only add one vector to the logits: the mixture of biases, not the bias of the
mixture. For a one-hot p (hard conditioning) the two are the same up to the ``top_k`` cut,
since a constant shift does not change a softmax; for a soft mixture they differ. The table
must have been built with the served model's tokenizer: token ids mean nothing across
tokenizers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kernels.bias_table import mixture_row
from services.common.domain import SEEKER
from services.generator.engines.base import Engine, Prompt

LOGIT_BIAS_LIMIT = 100.0
# OpenAI's own API accepts at most 300 logit_bias entries; vLLM takes more, but the largest
# few hundred carry nearly all of a clipped log-odds table's mass.
DEFAULT_TOP_K = 300
DEFAULT_MAX_TOKENS = 160
DEFAULT_TIMEOUT_S = 30.0


def render_prompt(prompt: Prompt) -> str:
    """A plain-text completion prompt: the system message, the dialogue, then the next
    speaker's label (the supporter for every step; analysis steps answer as "Answer")."""
    lines = [prompt.system_message(), ""]
    for turn in prompt.conversation.turns:
        lines.append(f"{'Seeker' if turn.role == SEEKER else 'Supporter'}: {turn.text}")
    lines.append("Supporter:" if prompt.writes_reply else "Answer:")
    return "\n".join(lines)


def strategy_logit_bias(
    bias: np.ndarray, prompt: Prompt, top_k: int = DEFAULT_TOP_K
) -> dict[str, float]:
    """``logit_bias`` for a reply prompt (empty for analysis steps): see the module docstring."""
    if prompt.strategy_mixture is None or top_k <= 0:
        return {}
    strength = prompt.options.strategy_strength or 1.0
    mixed = strength * mixture_row(bias, prompt.strategy_mixture)
    top = np.argpartition(-np.abs(mixed), min(top_k, mixed.size) - 1)[:top_k]
    top = top[np.argsort(-np.abs(mixed[top]), kind="stable")]
    clipped = np.clip(mixed[top], -LOGIT_BIAS_LIMIT, LOGIT_BIAS_LIMIT)
    return {str(int(t)): round(float(v), 4) for t, v in zip(top, clipped, strict=True) if v != 0}


class OpenAIEngine(Engine):
    """``base_url`` is the server root (``http://host:8000``; a trailing ``/v1`` is accepted);
    ``model`` the served model name; ``bias_table`` a ``kernels.bias_table`` file built with the
    served model's tokenizer (without one, replies are conditioned by the prompt only)."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        bias_table: str | Path | None = None,
        top_k: int = DEFAULT_TOP_K,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        root = base_url.rstrip("/")
        self.url = (root if root.endswith("/v1") else root + "/v1") + "/completions"
        self.model = model
        self.version = model
        self.top_k = top_k
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_s = timeout_s
        self._bias: np.ndarray | None = None
        if bias_table is not None:
            from kernels.bias_table import load_bias_table

            self._bias = load_bias_table(bias_table).bias
        self._session: Any = None
        self._lock = asyncio.Lock()

    async def _client(self) -> Any:
        import aiohttp

        # One session per engine, made on first use: it must belong to the running loop.
        async with self._lock:
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession(
                    headers=self._headers, timeout=aiohttp.ClientTimeout(total=self._timeout_s)
                )
            return self._session

    def request_body(self, prompt: Prompt, stream: bool = False) -> dict[str, Any]:
        options = prompt.options
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": render_prompt(prompt),
            "max_tokens": options.max_tokens or DEFAULT_MAX_TOKENS,
            "temperature": options.temperature,
            "stop": ["\nSeeker:", "\nSupporter:"],
            "stream": stream,
        }
        if options.seed:
            body["seed"] = options.seed
        if self._bias is not None:
            logit_bias = strategy_logit_bias(self._bias, prompt, self.top_k)
            if logit_bias:
                body["logit_bias"] = logit_bias
        return body

    async def _one(self, prompt: Prompt) -> str:
        session = await self._client()
        async with session.post(self.url, json=self.request_body(prompt)) as response:
            response.raise_for_status()
            payload = await response.json()
        return str(payload["choices"][0]["text"])

    async def complete(self, prompts: Sequence[Prompt]) -> list[str]:
        # One request per prompt: each carries its own logit_bias; the server batches them.
        return list(await asyncio.gather(*(self._one(p) for p in prompts)))

    async def stream(self, prompt: Prompt) -> AsyncIterator[str]:
        session = await self._client()
        async with session.post(self.url, json=self.request_body(prompt, stream=True)) as response:
            response.raise_for_status()
            async for raw in response.content:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue  # blank separators and SSE comments
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                delta = json.loads(data)["choices"][0].get("text", "")
                if delta:
                    yield delta

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
