"""Kernels for strategy-conditioned decoding.

This room holds GPU kernels (Triton), their PyTorch references and the dispatcher that picks
one, plus what feeds them: the per-strategy token bias table and the vLLM logits processor.

- ``kernels.strategies``: the canonical order of the 8 ESConv strategies (no torch needed).
- ``kernels.strategy_mixture``: log p(y) = log Σ_s p(s) softmax(logits + λ b_s)(y), as a
  chunked PyTorch reference, a fused Triton kernel and the ``strategy_mixture`` dispatcher.
- ``kernels.bias_table``: builds, saves and loads the [S, V] bias table from ESConv.
- ``kernels.logits_processor``: the vLLM v1 logits processor that applies the mixture.
- ``kernels.bench``: ``python -m kernels.bench`` prints µs/call, GB/s and extra memory.

Importing this package imports neither torch nor triton; submodules import what they use.
"""

from kernels.strategies import NUM_STRATEGIES, STRATEGIES, strategy_index

__all__ = ["NUM_STRATEGIES", "STRATEGIES", "strategy_index"]
