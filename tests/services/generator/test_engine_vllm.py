"""The ``vllm`` engine's plumbing on the tiny random Llama of ``tiny_llama`` (hidden 64, 2 heads
of 32, 2 layers, vocabulary 512): tokens flow, a conditioned request's tokens follow its
strategy's bias, and an unconditioned request in the same batch decodes exactly as without the
processor. Runs where vLLM is installed (``make install`` puts its CPU build in ``.venv``);
skipped elsewhere."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

pytest.importorskip("vllm", reason="vllm not installed")

from tiny_llama import VOCAB, build_tiny_llama

from kernels.bias_table import BiasTable, save_bias_table, tokenizer_identity
from services.common.domain import Conversation, Turn
from services.generator.engines.base import DecodingOptions, Prompt

BOOSTED = 300  # the token strategy "Question" pushes


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoTokenizer

    from services.generator.engines.vllm_engine import VllmEngine

    folder = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(folder)
    bias = np.zeros((8, VOCAB), dtype=np.float32)
    bias[0, BOOSTED] = 5.0
    identity = tokenizer_identity(AutoTokenizer.from_pretrained(folder))
    table = folder / "bias.npz"
    save_bias_table(BiasTable(bias, identity, 1.0, 5.0, (1,) * 8, "test"), table)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    return VllmEngine(folder, table, max_model_len=256, dtype="float32")


def prompt(strategy: int | None, strength: float = 0.0) -> Prompt:
    conversation = Conversation(turns=(Turn("seeker", "w5 w6 w7 w8"),))
    options = DecodingOptions(max_tokens=8, strategy_strength=strength)
    return Prompt(step="t", conversation=conversation, strategy=strategy, options=options)


async def test_tokens_flow(engine) -> None:
    (text,) = await engine.complete([prompt(None)])
    assert text.strip()


async def test_requests_sent_together_decode_in_one_batch(engine) -> None:
    # Four partner requests at once: one vLLM batch, and each answer is what it gets alone.
    (alone,) = await engine.complete([prompt(None)])
    before = engine.batches
    answers = await asyncio.gather(*(engine.complete([prompt(None)]) for _ in range(4)))
    assert engine.batches == before + 1
    assert answers == [[alone]] * 4


async def test_a_request_that_arrives_during_a_batch_goes_in_the_next(engine) -> None:
    before = engine.batches
    first = asyncio.create_task(engine.complete([prompt(None)]))
    while engine.batches == before:  # until the first batch is decoding
        await asyncio.sleep(0.001)
    second, third = await asyncio.gather(
        engine.complete([prompt(None)]), engine.complete([prompt(0, 10.0)])
    )
    assert (await first) == second
    assert third[0].split() == [f"w{BOOSTED}"] * len(third[0].split())
    # The two late requests went together, conditioned and not, in the second batch.
    assert engine.batches == before + 2


async def test_strategy_bias_moves_only_its_request(engine) -> None:
    (alone,) = await engine.complete([prompt(None)])
    # λ = 10 on a +5 bias: token w300 wins every step of the conditioned request.
    conditioned, untouched = await engine.complete([prompt(0, 10.0), prompt(None)])
    assert conditioned.split() == [f"w{BOOSTED}"] * len(conditioned.split())
    assert untouched == alone
    # A strategy whose row is zero leaves the request's tokens as they were at any strength
    # (the prompt differs from the analysis one: it names the strategy).
    (weak,) = await engine.complete([prompt(3, 1.0)])
    (strong,) = await engine.complete([prompt(3, 10.0)])
    assert strong == weak
