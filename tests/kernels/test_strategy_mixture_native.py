"""The fused CPU step (``kernels/strategy_mixture/cpu_mixture.c``): the mixture's definition to
fp32 rounding, written in place into the rows asked for, built at first use, and absent without
harm where it cannot build."""

from __future__ import annotations

import shutil

import pytest

torch = pytest.importorskip("torch")

from kernels.logits_processor import (  # noqa: E402
    ConditioningBatch,
    _FactoredStep,
    apply_conditioning,
)
from kernels.strategy_mixture import native  # noqa: E402

BUILT = native.load()
needs_native = pytest.mark.skipif(
    BUILT is None,
    reason="the native step did not build here (no C compiler, or it is switched off by "
    "SOLACE_NATIVE_MIXTURE=0); the PyTorch step serves instead",
)


def _factors(bias, lam):
    """F_s = exp(λ (b_s − c_s)) with c_s the bound that keeps F ≤ 1, as the prepared step."""
    table = bias.float()
    shift = table.amax(dim=1) if lam > 0 else table.amin(dim=1)
    return torch.exp(lam * (table - shift[:, None])).contiguous()


def _normalised(probs):
    return (probs / probs.sum(dim=1, keepdim=True)).contiguous()


@needs_native
@pytest.mark.parametrize("vocab", [10, 37, 512, 515, 1000])
@pytest.mark.parametrize("strategies", [8, 3])
def test_every_row_matches_the_definition(case, naive, vocab, strategies):
    """Vocabularies shorter than one 32-token block, at and off the block; ESConv's 8
    strategies (the unrolled path) and another count (the general one)."""
    logits, bias, probs, _ = case(5, vocab, num_strategies=strategies, seed=vocab)
    lam = 1.3
    work = logits.clone()
    BUILT.rows_(work, None, 5, _factors(bias, lam), _normalised(probs))
    expected = naive(logits, bias, probs, torch.full((5,), lam))
    torch.testing.assert_close(work, expected, atol=1e-4, rtol=1e-5)
    assert torch.allclose(work.exp().sum(dim=1), torch.ones(5), atol=1e-4)


@needs_native
def test_only_the_listed_rows_are_written_through_a_strided_view(case, naive):
    logits, bias, probs, _ = case(6, 300, seed=7)
    wide = torch.zeros(6, 400)
    wide[:, :300] = logits
    wide[:, 300:] = 5.0
    view = wide[:, :300]  # rows 400 floats apart: the row stride is honoured
    rows = torch.tensor([4, 1])
    lam = -0.8  # a negative strength takes the other shift
    BUILT.rows_(view, rows, 2, _factors(bias, lam), _normalised(probs[[4, 1]]))
    expected = naive(logits, bias, probs, torch.full((6,), lam))
    torch.testing.assert_close(view[[4, 1]], expected[[4, 1]], atol=1e-4, rtol=1e-5)
    for row in (0, 2, 3, 5):
        assert torch.equal(view[row], logits[row])  # bit for bit
    assert torch.equal(wide[:, 300:], torch.full((6, 100), 5.0))  # past the row: untouched


@needs_native
def test_masked_and_broken_rows_behave_as_the_pytorch_step(case):
    """-inf tokens stay -inf; a row with no finite logit or with a NaN gives what the PyTorch
    formula gives (its row max is taken as 0 there too)."""
    logits, bias, _, _ = case(4, 200, seed=3)
    logits[0, :50] = float("-inf")
    logits[1] = float("-inf")
    logits[2, 7] = float("nan")
    logits[3, 9] = float("inf")
    conditioned = {"strategy_probs": [0.2, 0.3, 0.5, 0, 0, 0, 0, 0], "strategy_strength": 1.0}
    results = []
    for switch in ("1", "0"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(native.ENV_SWITCH, switch)
            batch = ConditioningBatch()
            batch.update(_update(4, conditioned))
            work = logits.clone()
            apply_conditioning(work, bias, batch)
            step = batch.prepared_step(logits, bias)
            assert isinstance(step, _FactoredStep)
            assert (step.native is not None) == (switch == "1")
            results.append(work)
    fused, pytorch = results
    assert torch.isneginf(fused[0, :50]).all()
    torch.testing.assert_close(fused, pytorch, atol=1e-4, rtol=1e-5, equal_nan=True)


def test_switched_off_or_without_a_compiler_the_pytorch_step_serves(case, monkeypatch, tmp_path):
    logits, bias, _, _ = case(3, 100, seed=5)
    conditioned = {"strategy_probs": [0.5, 0.5, 0, 0, 0, 0, 0, 0]}
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    assert native.load() is None
    # A machine whose compiler fails: nothing is cached, the step still answers.
    monkeypatch.setenv(native.ENV_SWITCH, "1")
    monkeypatch.setenv(native.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setenv("CC", shutil.which("false") or "/bin/false")
    monkeypatch.setattr(native, "_loaded", {})
    assert native.load() is None
    assert not list((tmp_path / "cache").glob("*.so"))
    batch = ConditioningBatch()
    batch.update(_update(3, conditioned))
    work = logits.clone()
    apply_conditioning(work, bias, batch)
    step = batch.prepared_step(logits, bias)
    assert isinstance(step, _FactoredStep) and step.native is None
    assert torch.allclose(work.exp().sum(dim=1), torch.ones(3), atol=1e-4)


@needs_native
def test_built_once_per_source_and_machine_in_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(native.ENV_CACHE, str(tmp_path))
    monkeypatch.setattr(native, "_loaded", {})
    first = native.load()
    assert first is not None and first.path.parent == tmp_path
    assert native.load() is first  # loaded once per process
    monkeypatch.setattr(native, "_loaded", {})
    again = native.load()  # a new process finds the library instead of compiling
    assert again.path == first.path and len(list(tmp_path.glob("*.so"))) == 1


@needs_native
def test_a_build_that_is_inaccurate_on_this_machine_is_not_used(monkeypatch, tmp_path):
    """Each build is checked against the definition on the machine that runs it; one that is
    off (as libmvec once was on a CI host: 1.7e-4 on one token of 500) gives way to the next
    flag set, and with none left the PyTorch step serves."""
    assert native.self_check(BUILT.raw_rows) <= native.SELF_CHECK_TOLERANCE

    def off_by(error, index):
        def rows(logits, *rest):
            BUILT.raw_rows(logits, *rest)
            logits[index] += error

        return rows

    assert native.self_check(off_by(2e-4, 1234)) > native.SELF_CHECK_TOLERANCE
    assert native.self_check(off_by(float("nan"), 7)) == float("inf")
    assert native.self_check(off_by(1e-6, 7)) <= native.SELF_CHECK_TOLERANCE

    monkeypatch.setenv(native.ENV_CACHE, str(tmp_path))
    real_check = native.self_check

    def vectorised_is_wrong(rows):
        return 1.0 if rows.__self__.vectorised else real_check(rows)

    monkeypatch.setattr(native, "self_check", vectorised_is_wrong)
    monkeypatch.setattr(native, "_loaded", {})
    fallback = native.load()
    assert fallback is not None and not fallback.vectorised
    monkeypatch.setattr(native, "self_check", lambda rows: 1.0)
    monkeypatch.setattr(native, "_loaded", {})
    assert native.load() is None


def _update(size, extra):
    from types import SimpleNamespace

    added = [(i, SimpleNamespace(extra_args=extra), [], []) for i in range(size)]
    return SimpleNamespace(batch_size=size, removed=[], added=added, moved=[])


@needs_native
def test_the_build_command_says_where_the_library_is(capsys):
    assert native.main() == 0
    printed = capsys.readouterr().out
    assert str(BUILT.path) in printed and "exp/log" in printed


def test_the_build_command_fails_loudly_when_switched_off(monkeypatch, capsys):
    monkeypatch.setenv(native.ENV_SWITCH, "off")
    assert native.main() == 1
    assert "switched off" in capsys.readouterr().err
