"""The logits processor's per-row bookkeeping, driven by fake vLLM batch updates (no vLLM)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from kernels.logits_processor import (  # noqa: E402
    DEFAULT_STRENGTH,
    ConditioningBatch,
    RowConditioning,
    apply_conditioning,
    parse_extra_args,
)
from kernels.strategy_mixture import native, strategy_mixture_pytorch  # noqa: E402


@pytest.fixture(autouse=True, params=["native step", "torch step"])
def mixture_step(request, monkeypatch):
    """Every case runs with the fused native mixture step (where it builds) and with the
    PyTorch one, which serves wherever the native step cannot."""
    monkeypatch.setenv(native.ENV_SWITCH, "1" if request.param == "native step" else "0")
    return request.param


class MoveDirectionality(enum.Enum):  # mirrors vllm.v1.sample.logits_processor
    UNIDIRECTIONAL = enum.auto()
    SWAP = enum.auto()


@dataclass
class FakeBatchUpdate:
    """Same fields as vLLM's BatchUpdate; ``added`` holds (index, params, prompt, output)."""

    batch_size: int
    removed: list = field(default_factory=list)
    added: list = field(default_factory=list)
    moved: list = field(default_factory=list)


def _params(**extra):
    return SimpleNamespace(extra_args=extra or None)


def _added(index, **extra):
    return (index, _params(**extra), [1, 2, 3], [])


HARD = {"strategy": "Question"}  # one-hot on index 0


def test_parse_extra_args_forms():
    assert parse_extra_args(None) is None
    assert parse_extra_args({"unrelated": 1}) is None
    hard = parse_extra_args({"strategy": "[Reflection of feelings]", "strategy_strength": 2})
    assert hard == RowConditioning((0, 0, 1.0, 0, 0, 0, 0, 0), 2.0, ())
    soft = parse_extra_args({"strategy_probs": {"Question": 0.25, "Others": 0.75}})
    assert soft.probs[0] == 0.25 and soft.probs[7] == 0.75 and soft.strength == DEFAULT_STRENGTH
    assert parse_extra_args({"strategy": 3, "strategy_strength": 0}) is None  # switched off
    bans_only = parse_extra_args({"banned_token_ids": [9, 4, 9]})
    assert bans_only.banned == (4, 9) and sum(bans_only.probs) == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"strategy_probs": [1, 0]},
        {"strategy_probs": [-1, 0, 0, 0, 0, 0, 0, 2]},
        {"strategy": "Hugs"},
        {"strategy": "Question", "strategy_probs": [1] * 8},
        {"strategy": 0, "strategy_strength": float("nan")},
        {"banned_token_ids": [-3]},
    ],
)
def test_parse_extra_args_rejects_bad_values(extra):
    with pytest.raises(ValueError):
        parse_extra_args(extra)


def test_rows_follow_adds_removes_and_moves():
    batch = ConditioningBatch()
    batch.update(None)  # no change
    assert not batch
    batch.update(
        FakeBatchUpdate(
            batch_size=4,
            added=[_added(0, **HARD), _added(1), _added(2, strategy=5), _added(3, strategy=7)],
        )
    )
    assert sorted(batch.rows) == [0, 2, 3]  # row 1 asked for nothing
    # Removed first, then added (which may reuse the slot), then moved.
    batch.update(
        FakeBatchUpdate(
            batch_size=4,
            removed=[0],
            added=[_added(0, strategy=1)],
            moved=[(2, 1, MoveDirectionality.SWAP)],
        )
    )
    assert batch.rows[0].probs[1] == 1.0
    assert batch.rows[1].probs[5] == 1.0 and 2 not in batch.rows  # row 1 was empty
    # Condense: the last row moves into the hole left by a removal.
    batch.update(
        FakeBatchUpdate(
            batch_size=3, removed=[1], moved=[(3, 1, MoveDirectionality.UNIDIRECTIONAL)]
        )
    )
    assert sorted(batch.rows) == [0, 1] and batch.rows[1].probs[7] == 1.0
    assert batch.batch_size == 3
    # A request that replaces a conditioned one without conditioning clears the row.
    batch.update(FakeBatchUpdate(batch_size=3, added=[_added(0)]))
    assert sorted(batch.rows) == [1]


def test_swap_of_two_conditioned_rows():
    batch = ConditioningBatch()
    batch.update(FakeBatchUpdate(2, added=[_added(0, strategy=0), _added(1, strategy=6)]))
    batch.update(FakeBatchUpdate(2, moved=[(0, 1, MoveDirectionality.SWAP)]))
    assert batch.rows[0].probs[6] == 1.0 and batch.rows[1].probs[0] == 1.0


def test_added_tuple_layout_of_other_vllm_releases():
    """Older releases put params before the index or drop the prompt; both are understood."""
    batch = ConditioningBatch()
    batch.update(FakeBatchUpdate(2, added=[(_params(strategy=2), 1, [])]))
    assert batch.rows[1].probs[2] == 1.0


def test_tensors_are_cached_until_the_batch_changes():
    batch = ConditioningBatch()
    batch.update(FakeBatchUpdate(3, added=[_added(1, strategy=4, banned_token_ids=[5, 6])]))
    probs, strength, banned = batch.tensors(3, "cpu")
    assert probs[1, 4] == 1.0 and probs[[0, 2]].sum() == 0
    assert strength.tolist() == [0.0, DEFAULT_STRENGTH, 0.0]
    assert banned.tolist() == [[-1, -1], [5, 6], [-1, -1]]
    assert batch.tensors(3, "cpu")[0] is probs
    batch.update(FakeBatchUpdate(3, removed=[1]))
    assert not batch
    assert batch.tensors(3, "cpu")[0] is not probs


def test_apply_conditions_only_the_rows_that_ask(case):
    """Exact: unconditioned rows are bit-identical; conditioned rows equal the kernel's
    reference within fp32 tolerance (|Δ| ≤ 1e-4 + 1e-5·|ref|)."""
    logits, bias, _, _ = case(3, 500, seed=31)
    batch = ConditioningBatch()
    probs = [0.5, 0, 0, 0, 0.5, 0, 0, 0]
    batch.update(
        FakeBatchUpdate(3, added=[_added(0), _added(2, strategy_probs=probs, strategy_strength=2)])
    )
    work = logits.clone()
    result = apply_conditioning(work, bias, batch)
    assert result.data_ptr() == work.data_ptr()  # in place, as vLLM allows
    assert torch.equal(result[0], logits[0]) and torch.equal(result[1], logits[1])
    expected = strategy_mixture_pytorch(
        logits[2:], bias, torch.tensor([probs]), torch.tensor([2.0])
    )
    torch.testing.assert_close(result[2:], expected, atol=1e-4, rtol=1e-5)


def test_apply_with_nothing_to_do_returns_logits_untouched(case):
    logits, bias, _, _ = case(2, 50, seed=32)
    batch = ConditioningBatch()
    batch.update(FakeBatchUpdate(2, added=[_added(0), _added(1)]))
    assert apply_conditioning(logits, bias, batch) is logits


# The prepared fast step (``_FactoredStep``): one λ, no bans, a single vocabulary tile.

SOFT = [0.1, 0.0, 0.3, 0.0, 0.2, 0.0, 0.4, 0.0]


def _batch_with(size, conditioned, **extra):
    """A batch of ``size`` rows where the indices in ``conditioned`` ask for ``extra``."""
    batch = ConditioningBatch()
    added = [_added(i, **extra) if i in conditioned else _added(i) for i in range(size)]
    batch.update(FakeBatchUpdate(size, added=added))
    return batch


def _dispatcher(logits, bias, batch):
    """What the general dispatcher writes for this batch state (the fast step's reference)."""
    from kernels.strategy_mixture import strategy_mixture

    probs, strength, banned = batch.tensors(logits.shape[0], logits.device)
    return strategy_mixture(logits.clone(), bias, probs, strength, banned)


@pytest.mark.parametrize(
    "conditioned",
    [range(6), range(3), [1, 4, 5]],
    ids=["every row (whole tensor)", "a prefix (view)", "scattered rows (gather)"],
)
def test_fast_step_matches_the_dispatcher_and_leaves_other_rows_alone(case, conditioned):
    logits, bias, _, _ = case(6, 300, seed=41)
    logits[2, :40] = float("-inf")  # masked tokens, as vLLM's min_tokens processor leaves them
    batch = _batch_with(6, set(conditioned), strategy_probs=SOFT, strategy_strength=1.5)
    step = batch.factored_step(logits, bias)
    assert step is not None
    work = logits.clone()
    assert apply_conditioning(work, bias, batch) is work
    expected = _dispatcher(logits, bias, batch)
    torch.testing.assert_close(work, expected, atol=1e-4, rtol=1e-5)
    for row in set(range(6)) - set(conditioned):
        assert torch.equal(work[row], logits[row])  # bit for bit
    if 2 in conditioned:  # a masked token stays masked under the mixture
        assert torch.isneginf(work[2, :40]).all()


def test_fast_step_buffers_carry_nothing_from_one_decode_step_to_the_next(case):
    """The prepared step keeps its work buffers between decode steps; each step's answer
    depends on that step's logits alone (an all-masked row first, then a normal one)."""
    first, bias, _, _ = case(4, 200, seed=45)
    second, _, _, _ = case(4, 200, seed=46)
    first[1] = float("-inf")
    batch = _batch_with(4, {0, 1, 2, 3}, strategy_probs=SOFT, strategy_strength=1.0)
    step = batch.factored_step(first, bias)
    for logits in (first, second, first):
        work = apply_conditioning(logits.clone(), bias, batch)
        assert batch.factored_step(logits, bias) is step  # the same buffers every step
        torch.testing.assert_close(work, _dispatcher(logits, bias, batch), atol=1e-4, rtol=1e-5)


def test_fast_step_row_without_any_finite_logit_stays_minus_inf(case):
    logits, bias, _, _ = case(2, 64, seed=42)
    logits[1] = float("-inf")
    batch = _batch_with(2, {0, 1}, strategy=3)
    assert batch.factored_step(logits, bias) is not None
    work = apply_conditioning(logits.clone(), bias, batch)
    assert torch.isneginf(work[1]).all() and torch.isfinite(work[0]).all()


@pytest.mark.parametrize(
    ("step", "seed", "conditioned", "strategy"),
    [("factored_step", 43, {0, 2}, 5), ("one_hot_step", 53, {1, 2}, 4)],
)
def test_prepared_steps_on_bf16_logits(case, step, seed, conditioned, strategy):
    logits, bias, _, _ = case(4, 128, seed=seed, dtype=torch.bfloat16)
    batch = _batch_with(4, conditioned, strategy=strategy)
    assert getattr(batch, step)(logits, bias) is not None
    work = apply_conditioning(logits.clone(), bias, batch)
    assert work.dtype == torch.bfloat16
    torch.testing.assert_close(work, _dispatcher(logits, bias, batch), atol=0.05, rtol=0.01)
    for untouched in {0, 1, 2, 3} - conditioned:
        assert torch.equal(work[untouched], logits[untouched])


def test_fast_step_is_prepared_once_per_batch_state(case):
    logits, bias, _, _ = case(3, 100, seed=44)
    batch = _batch_with(3, {0, 1, 2}, strategy=0)
    step = batch.factored_step(logits, bias)
    assert batch.factored_step(logits.clone(), bias) is step  # next decode step: reused
    batch.update(None)
    assert batch.factored_step(logits, bias) is step
    batch.update(FakeBatchUpdate(3, removed=[1], added=[_added(1, strategy=7)]))
    rebuilt = batch.factored_step(logits, bias)
    assert rebuilt is not step
    torch.testing.assert_close(
        apply_conditioning(logits.clone(), bias, batch), _dispatcher(logits, bias, batch)
    )
    assert batch.factored_step(logits[:2], bias) is not rebuilt  # fewer logits rows: rebuilt


@pytest.mark.parametrize(
    "extras",
    [
        [{"strategy": 0, "banned_token_ids": [5]}, {"strategy": 1}],  # bans
        [
            {"strategy_probs": SOFT, "strategy_strength": 1.0},
            {"strategy_probs": SOFT, "strategy_strength": 2.0},
        ],
        [
            {"strategy_probs": SOFT, "strategy_strength": 50.0},
            {"strategy_probs": SOFT, "strategy_strength": 50.0},
        ],
    ],
    ids=["bans", "two strengths", "λ too large for the factored form"],
)
def test_other_cases_go_to_the_dispatcher(case, extras):
    logits, bias, _, _ = case(2, 200, seed=45)
    batch = ConditioningBatch()
    batch.update(FakeBatchUpdate(2, added=[_added(i, **e) for i, e in enumerate(extras)]))
    assert batch.factored_step(logits, bias) is None
    assert batch.one_hot_step(logits, bias) is None
    work = apply_conditioning(logits.clone(), bias, batch)
    torch.testing.assert_close(work, _dispatcher(logits, bias, batch), atol=1e-4, rtol=1e-5)


def test_a_forced_backend_bypasses_the_fast_step(case, monkeypatch):
    logits, bias, _, _ = case(2, 100, seed=46)
    batch = _batch_with(2, {0, 1}, strategy=2)
    monkeypatch.setenv("SOLACE_KERNEL_BACKEND", "reference")
    assert batch.factored_step(logits, bias) is None
    assert batch.one_hot_step(logits, bias) is None


# The prepared one-strategy step (``_OneHotStep``): every conditioned row on a single strategy.


@pytest.mark.parametrize(
    "conditioned",
    [range(6), range(3), [1, 4, 5]],
    ids=["every row (whole tensor)", "a prefix (view)", "scattered rows (gather)"],
)
def test_one_hot_step_matches_the_dispatcher_and_leaves_other_rows_alone(case, conditioned):
    """Rows on one strategy each, with their own λ (one beyond the factored form's range):
    equal to the dispatcher within fp32 tolerance; other rows bit-identical."""
    logits, bias, _, _ = case(6, 300, seed=51)
    logits[4, :40] = float("-inf")  # masked tokens, as vLLM's min_tokens processor leaves them
    extras = [
        {"strategy": 3, "strategy_strength": 1.0},
        {"strategy": "Question", "strategy_strength": -0.5},
        {"strategy_probs": [0, 0, 0, 0, 0, 0, 0.7, 0], "strategy_strength": 2.0},
        {"strategy": 7},
        {"strategy": 1, "strategy_strength": 50.0},
        {"strategy": 5, "strategy_strength": 1.5},
    ]
    batch = ConditioningBatch()
    added = [_added(i, **extras[i]) if i in conditioned else _added(i) for i in range(6)]
    batch.update(FakeBatchUpdate(6, added=added))
    assert batch.one_hot_step(logits, bias) is not None
    work = logits.clone()
    assert apply_conditioning(work, bias, batch) is work
    torch.testing.assert_close(work, _dispatcher(logits, bias, batch), atol=1e-4, rtol=1e-5)
    for row in set(range(6)) - set(conditioned):
        assert torch.equal(work[row], logits[row])  # bit for bit
    if 4 in conditioned:  # a masked token stays masked
        assert torch.isneginf(work[4, :40]).all()


def test_one_hot_step_is_log_softmax_of_the_biased_logits(case):
    logits, bias, _, _ = case(2, 128, seed=52)
    batch = _batch_with(2, {0, 1}, strategy=6, strategy_strength=0.8)
    work = apply_conditioning(logits.clone(), bias, batch)
    expected = torch.log_softmax(logits + 0.8 * bias[6], dim=1)
    torch.testing.assert_close(work, expected, atol=1e-5, rtol=1e-5)


def test_a_mixture_row_takes_the_factored_step(case):
    logits, bias, _, _ = case(3, 100, seed=54)
    batch = ConditioningBatch()
    added = [_added(0, strategy=1), _added(1, strategy_probs=SOFT), _added(2)]
    batch.update(FakeBatchUpdate(3, added=added))
    assert batch.one_hot_step(logits, bias) is None
    assert batch.factored_step(logits, bias) is not None
    work = apply_conditioning(logits.clone(), bias, batch)
    torch.testing.assert_close(work, _dispatcher(logits, bias, batch), atol=1e-4, rtol=1e-5)
    assert torch.equal(work[2], logits[2])


def test_one_hot_step_is_prepared_once_per_batch_state(case):
    logits, bias, _, _ = case(3, 100, seed=55)
    batch = _batch_with(3, {0, 2}, strategy=0)
    step = batch.one_hot_step(logits, bias)
    assert step is not None and batch.one_hot_step(logits.clone(), bias) is step
    batch.update(None)
    assert batch.one_hot_step(logits, bias) is step
    batch.update(FakeBatchUpdate(3, removed=[2], added=[_added(2, strategy_probs=SOFT)]))
    assert batch.one_hot_step(logits, bias) is None  # now a mixture
    torch.testing.assert_close(
        apply_conditioning(logits.clone(), bias, batch), _dispatcher(logits, bias, batch)
    )


def test_buffers_follow_every_update(case):
    """The preallocated buffers, edited row by row on updates, always equal the rows dict
    (including growth past the initial capacity, swaps and condensing moves)."""
    batch = ConditioningBatch()
    batch.update(FakeBatchUpdate(20, added=[_added(i, strategy=i % 8) for i in range(0, 20, 2)]))
    batch.update(
        FakeBatchUpdate(
            19,
            removed=[4, 19],
            added=[_added(4, strategy_probs=SOFT, strategy_strength=-0.5)],
            moved=[(2, 3, MoveDirectionality.SWAP), (18, 19, MoveDirectionality.UNIDIRECTIONAL)],
        )
    )
    probs, strength, _ = batch.tensors(20, "cpu")
    for index in range(20):
        row = batch.rows.get(index)
        want = torch.tensor(row.probs if row else [0.0] * 8, dtype=torch.float32)
        assert torch.equal(probs[index], want), index
        assert strength[index] == (row.strength if row else 0.0), index
    assert 3 in batch.rows and 2 not in batch.rows and 19 in batch.rows and 18 not in batch.rows
