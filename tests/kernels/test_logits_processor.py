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
from kernels.strategy_mixture import strategy_mixture_pytorch  # noqa: E402


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
