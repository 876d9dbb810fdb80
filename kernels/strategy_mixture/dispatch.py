"""``strategy_mixture``: the one entry point, choosing an implementation per call.

Choice, first match wins:

1. ``backend=`` argument, else the ``SOLACE_KERNEL_BACKEND`` environment variable:
   ``triton`` (the fused kernel; on CPU tensors only under TRITON_INTERPRET=1), ``reference``
   (the direct PyTorch form), ``factored`` (the PyTorch fast path) or ``auto``.
2. ``auto``: CUDA tensors with Triton importable and at least ``_MIN_TRITON_ELEMENTS`` logits go
   to the kernel; everything else (CPU, no Triton, tiny calls where a launch costs more than the
   work) goes to ``factored``, which falls back to the direct form per row when needed.

All implementations share the contract documented in ``reference.py``.
"""

from __future__ import annotations

import os

import torch

from kernels.strategy_mixture.reference import strategy_mixture_factored, strategy_mixture_pytorch
from kernels.strategy_mixture.triton_kernel import HAS_TRITON, strategy_mixture_triton

BACKENDS = ("auto", "triton", "reference", "factored")
ENV_BACKEND = "SOLACE_KERNEL_BACKEND"
# Below this many logits one launch pair costs more than the PyTorch work it replaces.
_MIN_TRITON_ELEMENTS = 4096


def choose_backend(logits: torch.Tensor, backend: str | None = None) -> str:
    """The implementation ``strategy_mixture`` would use for these logits."""
    wanted = (backend or os.environ.get(ENV_BACKEND) or "auto").strip().lower()
    if wanted not in BACKENDS:
        raise ValueError(f"unknown kernel backend {wanted!r}; expected one of {BACKENDS}")
    if wanted == "triton" and not HAS_TRITON:
        raise RuntimeError(f"{ENV_BACKEND}=triton was asked for, but triton is not installed")
    if wanted != "auto":
        return wanted
    if logits.is_cuda and HAS_TRITON and logits.numel() >= _MIN_TRITON_ELEMENTS:
        return "triton"
    return "factored"


def strategy_mixture(
    logits: torch.Tensor,
    bias: torch.Tensor,
    probs: torch.Tensor,
    strength: torch.Tensor | float,
    banned: torch.Tensor | None = None,
    *,
    out: torch.Tensor | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """log Σ_s p(s) softmax(logits + λ b_s) for each conditioned row; see ``reference.py``.

    ``strength`` may be one float for the whole batch. Pass ``out=logits`` to work in place.
    Returns the tensor written."""
    if not isinstance(strength, torch.Tensor):
        strength = torch.full(
            (logits.shape[0],), float(strength), dtype=torch.float32, device=logits.device
        )
    chosen = choose_backend(logits, backend)
    if chosen == "triton":
        return strategy_mixture_triton(logits, bias, probs, strength, banned, out=out)
    if chosen == "reference":
        return strategy_mixture_pytorch(logits, bias, probs, strength, banned, out=out)
    return strategy_mixture_factored(logits, bias, probs, strength, banned, out=out)
