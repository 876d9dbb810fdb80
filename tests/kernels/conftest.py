"""Fixtures for the kernels tests.

The Triton kernel runs on CPU tensors only through Triton's interpreter, which is chosen when a
kernel is decorated, i.e. when ``kernels.strategy_mixture`` is first imported: set it here,
before any test module of this folder imports the package. On a machine with a GPU the kernel
runs on the GPU instead.
"""

from __future__ import annotations

import os

import pytest

try:
    import torch
except ImportError:  # the kernels extra is not installed: every test module here skips itself
    torch = None

if torch is not None and not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def naive_strategy_mixture(logits, bias, probs, strength, banned=None):
    """The definition, materialising [B, S, V] in fp32 (tiny shapes only). Every row is
    conditioned here; callers compare only the rows they condition."""
    x = logits.float().clone()
    batch, vocab = x.shape
    if banned is not None:
        for row in range(batch):
            for token in banned[row].tolist():
                if 0 <= token < vocab:
                    x[row, token] = float("-inf")
    z = x[:, None, :] + strength.float()[:, None, None] * bias.float()[None]
    per_strategy = torch.log_softmax(z, dim=-1)  # [B, S, V]
    p = probs.float() / probs.float().sum(dim=1, keepdim=True)
    return torch.logsumexp(torch.log(p)[:, :, None] + per_strategy, dim=1)


@pytest.fixture
def naive():
    return naive_strategy_mixture


def make_case(batch, vocab, num_strategies=8, seed=0, dtype=None, zero_some=True):
    """Seeded logits [B, V] (scale 4), a clipped bias table, probabilities with some zeros and
    strengths with mixed signs."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, vocab, generator=gen) * 4
    bias = (torch.randn(num_strategies, vocab, generator=gen) * 1.5).clamp(-5, 5)
    probs = torch.rand(batch, num_strategies, generator=gen)
    if zero_some and num_strategies > 2:
        probs[::2, : num_strategies // 2] = 0.0
    strength = torch.linspace(-1.0, 2.0, batch) if batch > 1 else torch.ones(1)
    strength = torch.where(strength == 0, torch.full_like(strength, 0.5), strength)
    if dtype is not None:
        logits = logits.to(dtype)
    return logits, bias, probs, strength


@pytest.fixture
def case():
    return make_case
