"""The strategy mixture: log p(y) = log Σ_s p(s) · softmax(logits + λ · b_s)(y), per row.

``strategy_mixture`` is the entry point; the implementations are importable for tests and
benchmarks. The package imports where Triton is absent (the kernel then raises if asked for).
"""

from kernels.strategy_mixture.dispatch import BACKENDS, choose_backend, strategy_mixture
from kernels.strategy_mixture.reference import (
    conditioned_rows,
    strategy_mixture_factored,
    strategy_mixture_pytorch,
)
from kernels.strategy_mixture.triton_kernel import HAS_TRITON, strategy_mixture_triton

__all__ = [
    "BACKENDS",
    "HAS_TRITON",
    "choose_backend",
    "conditioned_rows",
    "strategy_mixture",
    "strategy_mixture_factored",
    "strategy_mixture_pytorch",
    "strategy_mixture_triton",
]
