"""The PyTorch implementations (direct reference and factored CPU path) against the definition."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from kernels.strategy_mixture import (  # noqa: E402
    strategy_mixture_factored,
    strategy_mixture_pytorch,
)
from kernels.strategy_mixture.reference import _SAFE_EXP_RANGE  # noqa: E402

IMPLS = {"reference": strategy_mixture_pytorch, "factored": strategy_mixture_factored}
NEG_INF = float("-inf")


def _bits(x):
    """A view that compares bit for bit (NaN payloads and signed zeros included)."""
    return x.view(torch.int32) if x.element_size() == 4 else x.view(torch.int16)


def _assert_close_log_probs(actual, expected, dtype):
    """fp32: |Δ| ≤ 1e-4 + 1e-5·|ref| (a few fp32 ulps of log-probabilities around −30).
    bf16/fp16: the result is rounded once to the output dtype: |Δ| ≤ 2^-7·|ref| + 1e-3.
    -inf must be at exactly the same places."""
    actual = actual.float()
    finite = torch.isfinite(expected)
    assert torch.equal(torch.isfinite(actual), finite)
    assert not torch.isnan(actual).any()
    if dtype == torch.float32:
        atol, rtol = 1e-4, 1e-5
    else:
        atol, rtol = 1e-3, 2.0**-7
    torch.testing.assert_close(actual[finite], expected[finite], atol=atol, rtol=rtol)


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    ("batch", "vocab", "chunk"), [(1, 37, None), (3, 1000, 64), (5, 1031, 100)]
)
def test_matches_definition(impl, dtype, batch, vocab, chunk, case, naive):
    """Irregular B and V, chunks that do not divide V; tolerance in _assert_close_log_probs."""
    logits, bias, probs, strength = case(batch, vocab, seed=batch * vocab, dtype=dtype)
    out = IMPLS[impl](logits, bias, probs, strength, chunk_size=chunk)
    assert out.dtype == dtype and out.shape == logits.shape
    _assert_close_log_probs(out, naive(logits, bias, probs, strength), dtype)


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_one_hot_is_bias_add_then_log_softmax(impl, case):
    """Hard conditioning: |Δ| ≤ 1e-5 against log_softmax(l + λ b_s) in fp32."""
    logits, bias, probs, strength = case(4, 1031, seed=1)
    chosen = torch.tensor([0, 3, 7, 5])
    probs = torch.nn.functional.one_hot(chosen, 8).float()
    out = IMPLS[impl](logits, bias, probs, strength)
    expected = torch.log_softmax(logits + strength[:, None] * bias[chosen], dim=-1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_mixture_probabilities_sum_to_one(impl, case):
    """Σ_y exp(log p(y)) = 1 within 1e-5 per conditioned row, bans included."""
    logits, bias, probs, strength = case(5, 1031, seed=2)
    banned = torch.tensor([[0, 1, 2], [1030, -1, -1], [-1, -1, -1], [5, 5, 6], [9, 99, 999]])
    out = IMPLS[impl](logits, bias, probs, strength, banned)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(5), atol=1e-5, rtol=0)


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_banned_tokens_get_minus_inf(impl, case):
    """Exact: banned ids are -inf in every row (conditioned or not); padding (-1) and ids
    outside [0, V) are ignored; everything else stays finite."""
    logits, bias, probs, strength = case(3, 257, seed=3)
    strength[1] = 0.0  # row 1 is not conditioned: only its bans apply
    banned = torch.tensor([[4, 4, 256], [0, -1, 10_000], [-1, -1, -1]])
    out = IMPLS[impl](logits, bias, probs, strength, banned)
    assert out[0, 4] == NEG_INF and out[0, 256] == NEG_INF and out[1, 0] == NEG_INF
    assert torch.isfinite(out).sum().item() == out.numel() - 3
    kept = torch.ones(257, dtype=torch.bool)
    kept[0] = False
    assert torch.equal(_bits(out[1, kept]), _bits(logits[1, kept]))


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("in_place", [False, True])
def test_unconditioned_rows_stay_bit_identical(impl, dtype, in_place, case):
    """Exact (bitwise): λ = 0 or all-zero probabilities leave the row as it was."""
    logits, bias, probs, strength = case(4, 1000, seed=4, dtype=dtype)
    logits[2, 7] = float("nan")  # even odd values are carried through untouched
    strength[1] = 0.0
    probs[2] = 0.0
    before = logits.clone()
    out = IMPLS[impl](logits, bias, probs, strength, out=logits if in_place else None)
    assert (out.data_ptr() == logits.data_ptr()) == in_place
    for row in (1, 2):
        assert torch.equal(_bits(out[row]), _bits(before[row]))
    if not in_place:
        assert torch.equal(_bits(logits), _bits(before))  # the input is not modified


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_in_place_equals_out_of_place(impl, case):
    """Exact: the same arithmetic runs in both modes."""
    logits, bias, probs, strength = case(3, 1031, seed=5)
    expected = IMPLS[impl](logits, bias, probs, strength)
    work = logits.clone()
    IMPLS[impl](work, bias, probs, strength, out=work)
    assert torch.equal(work, expected)


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_masked_and_fully_banned_rows_give_no_nan(impl, case):
    """Logits already at -inf stay -inf; a row with every token banned is all -inf, no NaN."""
    logits, bias, probs, strength = case(2, 64, seed=6)
    logits[0, :10] = NEG_INF
    banned = torch.stack([torch.full((64,), -1), torch.arange(64)])
    out = IMPLS[impl](logits, bias, probs, strength, banned)
    assert not torch.isnan(out).any()
    assert (out[0, :10] == NEG_INF).all() and torch.isfinite(out[0, 10:]).all()
    assert (out[1] == NEG_INF).all()


def test_factored_falls_back_when_factors_could_underflow(case, naive):
    """|λ|·range(b) above the safe range goes through the direct form: fp32 tolerance."""
    logits, bias, probs, strength = case(3, 301, seed=7)
    strength = torch.tensor([_SAFE_EXP_RANGE, 1.0, -_SAFE_EXP_RANGE])
    out = strategy_mixture_factored(logits, bias, probs, strength)
    _assert_close_log_probs(out, naive(logits, bias, probs, strength), torch.float32)


def test_probabilities_are_normalised_per_row(case):
    """Scaling p(s) by a constant changes nothing: equal up to fp32 rounding (|Δ| ≤ 1e-5)."""
    logits, bias, probs, strength = case(2, 129, seed=8)
    a = strategy_mixture_pytorch(logits, bias, probs, strength)
    b = strategy_mixture_pytorch(logits, bias, probs * 7.0, strength)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_rejects_inputs_that_break_the_contract(case):
    logits, bias, probs, strength = case(2, 16, seed=9)
    with pytest.raises(ValueError, match="bias"):
        strategy_mixture_pytorch(logits, bias[:, :8], probs, strength)
    with pytest.raises(ValueError, match="probs"):
        strategy_mixture_pytorch(logits, bias, probs[:, :3], strength)
    with pytest.raises(ValueError, match="banned"):
        strategy_mixture_pytorch(logits, bias, probs, strength, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="out"):
        strategy_mixture_pytorch(logits, bias, probs, strength, out=logits.double())
