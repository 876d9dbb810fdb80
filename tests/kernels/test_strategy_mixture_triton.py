"""The fused Triton kernel against the PyTorch reference (on CPU through TRITON_INTERPRET=1,
which conftest.py sets before the kernel module is imported)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton", reason="triton is not installed")

from kernels.strategy_mixture import strategy_mixture_pytorch, triton_kernel  # noqa: E402
from kernels.strategy_mixture.triton_kernel import strategy_mixture_triton  # noqa: E402

if (
    not torch.cuda.is_available()
    and "Interpreted" not in type(triton_kernel._mixture_stats_kernel).__name__
):
    pytest.skip(
        "no GPU, and the kernel module was imported before TRITON_INTERPRET=1 was set",
        allow_module_level=True,
    )

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
NEG_INF = float("-inf")


def _on(*tensors):
    return [t.to(DEVICE) if t is not None else None for t in tensors]


def _bits(x):
    return x.view(torch.int32) if x.element_size() == 4 else x.view(torch.int16)


def _assert_matches_reference(actual, expected):
    """fp32: |Δ| ≤ 1e-4 + 1e-5·|ref| (exp2/log2 and a different summation order against
    torch's logsumexp). bf16/fp16: both round an fp32 result to the output dtype, so they
    differ by at most one unit in the last place: |Δ| ≤ 2^-7·|ref| + 1e-3. The -inf positions
    must agree exactly and there must be no NaN."""
    low_precision = actual.dtype != torch.float32
    actual, expected = actual.cpu().float(), expected.cpu().float()
    finite = torch.isfinite(expected)
    assert torch.equal(torch.isfinite(actual), finite)
    assert not torch.isnan(actual).any()
    atol, rtol = (1e-3, 2.0**-7) if low_precision else (1e-4, 1e-5)
    torch.testing.assert_close(actual[finite], expected[finite], atol=atol, rtol=rtol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    ("batch", "vocab", "block_v", "splits"),
    [(1, 37, 32, None), (3, 1000, 256, None), (5, 1031, 128, 3), (3, 1031, 256, 2)],
)
def test_matches_reference(dtype, batch, vocab, block_v, splits, case):
    """Irregular B and V (not multiples of the block), one or several programs per row, with
    bans; tolerance in _assert_matches_reference."""
    logits, bias, probs, strength = case(batch, vocab, seed=vocab + batch, dtype=dtype)
    banned = torch.full((batch, 3), -1)
    banned[0, :2] = torch.tensor([0, vocab - 1])
    expected = strategy_mixture_pytorch(logits, bias, probs, strength, banned)
    out = strategy_mixture_triton(
        *_on(logits, bias, probs, strength, banned), block_v=block_v, num_splits=splits
    )
    assert out.dtype == dtype
    _assert_matches_reference(out, expected)
    if dtype == torch.float32:  # the mixture is a distribution: Σ exp = 1 within 1e-5
        torch.testing.assert_close(out.cpu().exp().sum(1), torch.ones(batch), atol=1e-5, rtol=0)


def test_one_hot_is_bias_add_then_log_softmax(case):
    """Hard conditioning in fp32: |Δ| ≤ 1e-4 + 1e-5·|ref| against log_softmax(l + λ b_s)."""
    logits, bias, probs, strength = case(3, 300, seed=11)
    chosen = torch.tensor([1, 6, 2])
    probs = torch.nn.functional.one_hot(chosen, 8).float()
    out = strategy_mixture_triton(*_on(logits, bias, probs, strength), block_v=128)
    expected = torch.log_softmax(logits + strength[:, None] * bias[chosen], dim=-1)
    torch.testing.assert_close(out.cpu(), expected, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("in_place", [False, True])
def test_unconditioned_rows_stay_bit_identical(dtype, in_place, case):
    """Exact (bitwise) for rows with λ = 0 or no probability mass; their bans still apply."""
    logits, bias, probs, strength = case(4, 301, seed=12, dtype=dtype)
    strength[1] = 0.0
    probs[2] = 0.0
    banned = torch.tensor([[-1, -1], [-1, -1], [-1, -1], [3, -1]])
    strength[3] = 0.0
    logits, bias, probs, strength, banned = _on(logits, bias, probs, strength, banned)
    before = logits.clone()
    out = strategy_mixture_triton(
        logits, bias, probs, strength, banned, out=logits if in_place else None, block_v=64
    )
    assert (out.data_ptr() == logits.data_ptr()) == in_place
    for row in (1, 2):
        assert torch.equal(_bits(out[row]), _bits(before[row]))
    assert out[3, 3] == NEG_INF
    keep = torch.arange(301, device=out.device) != 3
    assert torch.equal(_bits(out[3, keep]), _bits(before[3, keep]))
    if not in_place:
        assert torch.equal(_bits(logits), _bits(before))


def test_banned_and_masked_tokens(case):
    """Exact -inf at banned ids (padding and out-of-range ids ignored) and at logits that were
    already -inf; a fully banned row is all -inf; never NaN."""
    logits, bias, probs, strength = case(3, 200, seed=13)
    logits[2, 50:60] = NEG_INF
    banned = torch.full((3, 200), -1)
    banned[0, :3] = torch.tensor([7, 7, 10_000])
    banned[1] = torch.arange(200)
    out = strategy_mixture_triton(*_on(logits, bias, probs, strength, banned), block_v=64)
    out = out.cpu()
    assert not torch.isnan(out).any()
    assert out[0, 7] == NEG_INF and torch.isfinite(out[0]).sum() == 199
    assert (out[1] == NEG_INF).all()
    assert (out[2, 50:60] == NEG_INF).all() and torch.isfinite(out[2]).sum() == 190


def test_empty_batch(case):
    logits, bias, probs, strength = case(1, 64, seed=14)
    out = strategy_mixture_triton(*_on(logits[:0], bias, probs[:0], strength[:0]))
    assert out.shape == (0, 64)
