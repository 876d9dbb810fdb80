"""Strategy conditioning of the ``llamacpp`` engine on the built SmolLM2 and its bias table
(the ``model_settings`` fixture runs ``solace models build``, which writes both; idempotent).

What a user notices: a reply step is decoded under the strategy bias (a processor is passed to
llama.cpp) and an analysis step is not; the table's tokenizer is the GGUF's own, and a table of
another tokenizer stops the engine at configuration instead of steering with meaningless ids;
the settings choose the schedule; a conditioned reply differs from the prompt-only one and is
still text; the build keeps the table current. Generations are greedy and short.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from generator_fakes import conversation

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")

from kernels.bias_table import (
    TokenizerMismatchError,
    load_bias_table,
    save_bias_table,
    tokenizer_identity,
)
from kernels.llamacpp_processor import BiasSchedule, ProcessorList, StrategyBiasProcessor
from services.common.config import Settings, load_settings
from services.common.labels import strategy_index
from services.generator.engines import configured_engines, llm_files
from services.generator.engines.base import DecodingOptions, Engine, Prompt
from services.generator.engines.llamacpp_engine import GGUFTokenizer, LlamaCppEngine
from services.generator.model import GenerationOptions, GenerationRequest, GeneratorCore
from solace_cli import modelbuild

QUESTION = strategy_index("Question")
JOB = conversation("I lost my job last week and I don't know how to tell my family.")
SCHEDULE = BiasSchedule(strength=2.0, full_tokens=4, half_life=4.0, max_repeats=2)


def reply(strategy: int | None = QUESTION, max_tokens: int = 24, **options) -> Prompt:
    return Prompt(
        step="direct.reply" if strategy is not None else "madp.emotion",
        conversation=JOB,
        instruction="Write the supporter's next reply to the seeker.",
        strategy=strategy,
        options=DecodingOptions(max_tokens=max_tokens, **options),
    )


@pytest.fixture(scope="module")
def table_path(model_settings: Settings) -> Path:
    path = llm_files.built_bias_table_path(model_settings)
    assert path.is_file(), "solace models build wrote no strategy bias table"
    return path


@pytest.fixture(scope="module")
def engine(model_settings: Settings, table_path: Path) -> Iterator[LlamaCppEngine]:
    built = LlamaCppEngine(
        llm_files.built_llm_path(model_settings),
        n_threads=1,
        bias_table=table_path,
        schedule=SCHEDULE,
    )
    yield built
    asyncio.run(built.close())


def test_the_table_is_built_with_the_engines_tokenizer(model_settings, table_path) -> None:
    tokenizer = GGUFTokenizer.from_gguf(llm_files.built_llm_path(model_settings))
    try:
        identity = tokenizer_identity(tokenizer)
        ids = tokenizer(["How are you feeling?"])["input_ids"][0]
        assert tokenizer.llama.detokenize(ids).decode() == "How are you feeling?"
        openers = {i for word in ("What", "How") for i in tokenizer.encode(word)}
    finally:
        tokenizer.llama.close()
    table = load_bias_table(table_path, expected=identity)  # raises on a mismatch
    assert identity.vocab_size == 49152 and table.bias.shape == (8, 49152)
    assert table.tokenizer.name == llm_files.LLM_FILE
    # A question's opening words are among the Question row's largest log-odds.
    top = {int(i) for i in np.argsort(-table.bias[QUESTION])[:20]}
    assert openers <= top


def test_a_table_of_another_tokenizer_stops_the_engine(model_settings, table_path, tmp_path):
    table = load_bias_table(table_path)
    other = type(table.tokenizer)("another", table.tokenizer.vocab_size, "0" * 64)
    forged = tmp_path / "other.npz"
    save_bias_table(type(table)(**{**table.__dict__, "tokenizer": other}), forged)
    with pytest.raises(TokenizerMismatchError):
        LlamaCppEngine(llm_files.built_llm_path(model_settings), bias_table=forged)
    settings = model_settings.with_overrides(llm_bias_table=str(forged))
    with pytest.raises(TokenizerMismatchError):  # at start-up, not on every request
        configured_engines(settings)


def test_a_reply_step_gets_the_processor_and_an_analysis_step_none(engine) -> None:
    processors = engine.logits_processor(reply())
    assert isinstance(processors, ProcessorList) and len(processors) == 1
    (processor,) = processors
    assert isinstance(processor, StrategyBiasProcessor) and processor.schedule == SCHEDULE
    assert engine.logits_processor(reply(strategy=None)) is None
    # A request's strength overrides λ (the rest of the schedule stays).
    (stronger,) = engine.logits_processor(reply(strategy_strength=3.5))
    assert stronger.schedule == BiasSchedule(3.5, 4, 4.0, 2)
    # Fresh state per generation: two prompts never share a processor.
    assert engine.logits_processor(reply())[0] is not processor


async def test_the_processor_reaches_llama_cpp_only_for_reply_steps(engine, monkeypatch):
    seen: list[object] = []
    llama = engine._load()
    original = llama.create_chat_completion

    def recording(*args, **kwargs):
        seen.append(kwargs.get("logits_processor"))
        return original(*args, **kwargs)

    monkeypatch.setattr(llama, "create_chat_completion", recording)
    await engine.complete([reply(max_tokens=4), reply(strategy=None, max_tokens=4)])
    assert isinstance(seen[0], ProcessorList) and seen[1] is None


async def test_a_conditioned_reply_differs_and_is_still_text(model_settings, engine) -> None:
    plain = LlamaCppEngine(llm_files.built_llm_path(model_settings), n_threads=1)
    try:
        (unbiased,) = await plain.complete([reply(max_tokens=24)])
    finally:
        await plain.close()
    (biased,) = await engine.complete([reply(max_tokens=24)])
    assert biased.strip() and biased != unbiased
    assert len(biased.split()) >= 5 and biased.isascii()
    assert engine.version.startswith("SmolLM2-135M-Instruct.Q4_1@") and "+bias@" in engine.version
    assert "+bias@" not in plain.version


def test_the_settings_configure_table_and_schedule(model_settings: Settings) -> None:
    settings = model_settings.with_overrides(
        llm_model="",
        llm_strategy_strength=1.5,
        llm_strategy_full_tokens=3,
        llm_strategy_half_life=6.0,
        llm_strategy_max_repeats=0,
    )
    engine = configured_engines(settings)["llamacpp"]
    assert isinstance(engine, LlamaCppEngine) and engine.bias is not None
    assert engine.schedule == BiasSchedule(1.5, 3, 6.0, 0)
    off = configured_engines(model_settings.with_overrides(llm_bias_table="off"))["llamacpp"]
    assert off.bias is None and off.logits_processor(reply()) is None
    env = load_settings({"SOLACE_LLM_STRATEGY_STRENGTH": "3", "SOLACE_LLM_STRATEGY_HALF_LIFE": "0"})
    assert env.llm.strategy_strength == 3.0 and env.llm.strategy_half_life == 0.0
    # Another GGUF gets no table by default: SmolLM2's token ids mean nothing to it.
    other = Settings(models_dir="/m").with_overrides(llm_model="/srv/other.gguf")
    assert llm_files.llm_bias_table_path(other) is None
    assert llm_files.llm_bias_table_path(Settings(models_dir="/m")) == Path(
        "/m/llm/strategy_bias.npz"
    )


class Recording(Engine):
    name, version = "llamacpp", "fake"

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []

    async def complete(self, prompts):
        self.prompts.extend(prompts)
        return ["How are you holding up?"] * len(prompts)


async def test_no_strength_in_the_request_leaves_the_engines_own_default() -> None:
    spy = Recording()
    core = GeneratorCore(Settings(), {"llamacpp": spy})
    options = GenerationOptions(engine="llamacpp", max_tokens=20)
    await core.generate(GenerationRequest(JOB, QUESTION, "DIRECT", options=options))
    assert spy.prompts[-1].options.strategy_strength == 0.0  # the engine applies its λ
    options = GenerationOptions(engine="llamacpp", max_tokens=20, strategy_strength=2.5)
    await core.generate(GenerationRequest(JOB, QUESTION, "DIRECT", options=options))
    assert spy.prompts[-1].options.strategy_strength == 2.5


# --- the build ------------------------------------------------------------------------------


def test_the_build_keeps_the_table_current(tmp_path: Path) -> None:
    settings = Settings(models_dir=str(tmp_path))
    modelbuild.build_llm(settings)
    built = modelbuild.build_llm_bias_table(settings)
    table = llm_files.built_bias_table_path(settings)
    manifest_path = table.parent / "manifest.json"
    assert not built["skipped"] and table.is_file() and built["shape"] == [8, 49152]
    assert json.loads(manifest_path.read_text())["bias_table"]["sha256"] == built["sha256"]
    assert modelbuild.build_llm_bias_table(settings)["skipped"]

    # Another training file (its sha256 recorded differs): rebuilt.
    manifest = json.loads(manifest_path.read_text())
    manifest["bias_table"]["train"]["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    assert not modelbuild.build_llm_bias_table(settings)["skipped"]

    # A new GGUF build rewrites the manifest without the table's record: rebuilt too.
    modelbuild.build_llm(settings, force=True)
    assert not modelbuild.build_llm_bias_table(settings)["skipped"]

    # No training data: no table (a stale one is not served), and the build says why.
    missing = modelbuild.build_llm_bias_table(settings.with_overrides(data_dir=str(tmp_path)))
    assert "esconv" in missing["missing"] and not table.exists()
