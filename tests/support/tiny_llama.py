"""A tiny random Llama and its word-level tokenizer, built offline, for the vLLM tests.

Hidden 64, 2 heads of 32 (the CPU attention backend rejects a head_dim of 16), 2 layers,
vocabulary 512: token ``i`` (3 <= i < 512) is the word ``w{i}``, 0-2 are ``<unk>``, ``<s>``,
``</s>``. Weights are seeded, so every build is the same model. Shared (``tests/conftest.py``
puts ``tests/support`` on the path) by the kernels' logits-processor test, the in-process engine
test and the ``openai`` engine test behind vLLM's OpenAI server; needs torch and transformers
(both in ``.venv``).
"""

from __future__ import annotations

from pathlib import Path

VOCAB = 512


def build_tiny_llama(folder: Path) -> None:
    """Write a Hugging Face causal-LM folder (config, weights, tokenizer) to ``folder``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"w{i}": i for i in range(3, VOCAB)})
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
