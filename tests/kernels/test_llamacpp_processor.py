"""The llama.cpp strategy processor on seeded numpy arrays (no model needed).

Each step is compared exactly (``np.array_equal``): the processor adds ``λ_t · row`` with one
float32 multiply-add per entry, and the expected value is computed the same way, so any
difference is a bug, not rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels.bias_table import mixture_row
from kernels.llamacpp_processor import BiasSchedule, ProcessorList, StrategyBiasProcessor

V = 97
PROMPT = np.array([5, 6, 7, 8], dtype=np.intc)


@pytest.fixture
def table() -> np.ndarray:
    return np.random.default_rng(3).normal(0.0, 1.5, (8, V)).astype(np.float32)


def decode(processor, scores_per_step, generated):
    """Run the processor as llama-cpp-python does: step i sees the prompt + i tokens."""
    out = []
    for step, scores in enumerate(scores_per_step):
        ids = np.concatenate([PROMPT, np.asarray(generated[:step], dtype=np.intc)])
        out.append(processor(ids, scores.copy()))
    return out


def test_full_strength_for_the_opening_then_halving_per_half_life() -> None:
    schedule = BiasSchedule(strength=2.0, full_tokens=3, half_life=4.0)
    assert [schedule.strength_at(t) for t in range(4)] == [2.0, 2.0, 2.0, 2.0]
    assert schedule.strength_at(7) == pytest.approx(1.0)
    assert schedule.strength_at(11) == pytest.approx(0.5)
    # Under 1% of λ: off (2^-7 < 0.01 after 7 half-lives).
    assert schedule.strength_at(3 + 4 * 7) == 0.0 and schedule.strength_at(3 + 4 * 6) > 0
    constant = BiasSchedule(strength=1.5)  # half_life 0: never decays
    assert {constant.strength_at(t) for t in (0, 10, 1000)} == {1.5}
    with pytest.raises(ValueError):
        BiasSchedule(strength=-1.0)
    with pytest.raises(ValueError):
        BiasSchedule(strength=1.0, half_life=float("inf"))


def test_adds_the_decayed_bias_exactly(table: np.ndarray) -> None:
    schedule = BiasSchedule(strength=1.7, full_tokens=2, half_life=3.0)
    row = table[4]
    rng = np.random.default_rng(11)
    steps = [rng.normal(size=V).astype(np.float32) for _ in range(40)]
    generated = list(rng.integers(0, V, size=40))
    processor = StrategyBiasProcessor(row, schedule)
    out = decode(processor, steps, generated)
    for t, (before, after) in enumerate(zip(steps, out, strict=True)):
        strength = schedule.strength_at(t)
        expected = before + np.float32(strength) * row if strength else before
        assert np.array_equal(after, expected), t
    assert processor.prompt_tokens == len(PROMPT)
    # Past 1% of λ the logits come back untouched.
    assert schedule.strength_at(39) == 0.0 and np.array_equal(out[-1], steps[-1])


def test_edits_scores_in_place_and_leaves_the_table_alone(table: np.ndarray) -> None:
    row = table[0]
    kept = row.copy()
    scores = np.zeros(V, dtype=np.float32)
    processor = StrategyBiasProcessor(row, BiasSchedule(strength=1.0, max_repeats=1))
    out = processor(PROMPT, scores)
    assert out is scores and np.array_equal(scores, row)
    token = int(np.argmax(row))
    processor(np.append(PROMPT, token).astype(np.intc), np.zeros(V, dtype=np.float32))
    assert np.array_equal(row, kept)  # muting copied the row; the shared table is unchanged


def test_a_token_generated_n_times_loses_its_positive_bias(table: np.ndarray) -> None:
    row = table[2]
    up, down = int(np.argmax(row)), int(np.argmin(row))
    assert row[up] > 0 > row[down]
    schedule = BiasSchedule(strength=2.0, max_repeats=2)
    generated = [up, down, up, down, 1, 1]
    steps = [np.zeros(V, dtype=np.float32) for _ in range(len(generated) + 1)]
    processor = StrategyBiasProcessor(row, schedule)
    out = decode(processor, steps, generated)
    # Step 2 follows one `up`: still pushed. Step 3 follows two: its positive push is gone.
    assert out[2][up] == np.float32(2.0) * row[up]
    assert out[3][up] == 0.0 and out[6][up] == 0.0
    # A negative bias stays however often the token came (the bias never *favours* a repeat).
    assert out[6][down] == np.float32(2.0) * row[down]
    # Every other token still gets exactly its bias.
    others = np.ones(V, dtype=bool)
    others[list(processor.muted)] = False
    assert np.array_equal(out[6][others], (np.float32(2.0) * row)[others])
    assert set(processor.muted) == ({up} | ({1} if row[1] > 0 else set()))


def test_wider_logits_get_no_bias_past_the_table(table: np.ndarray) -> None:
    scores = np.zeros(V + 5, dtype=np.float32)
    StrategyBiasProcessor(table[1], BiasSchedule(strength=1.0))(PROMPT, scores)
    assert np.array_equal(scores[:V], table[1]) and not scores[V:].any()


def test_mixture_row(table: np.ndarray) -> None:
    one_hot = [0, 0, 0, 1, 0, 0, 0, 0]
    assert np.shares_memory(mixture_row(table, one_hot), table[3])  # the row, not a copy
    assert np.array_equal(mixture_row(table, one_hot), table[3])
    soft = [0.5, 0, 0, 0.25, 0, 0, 0, 0.25]
    expected = 0.5 * table[0] + 0.25 * table[3] + 0.25 * table[7]
    np.testing.assert_allclose(mixture_row(table, [2 * p for p in soft]), expected, rtol=1e-6)
    for bad in ([0] * 8, [1] * 7, [-1, 2, 0, 0, 0, 0, 0, 0], [float("nan")] + [1] * 7):
        with pytest.raises(ValueError):
            mixture_row(table, bad)


def test_a_row_with_zeros_leaves_those_logits_alone() -> None:
    row = np.zeros(V, dtype=np.float32)
    row[[3, 50, 90]] = [1.0, -2.0, 0.5]
    scores = np.random.default_rng(5).normal(size=V).astype(np.float32)
    before = scores.copy()
    StrategyBiasProcessor(row, BiasSchedule(strength=2.0))(PROMPT, scores)
    assert np.array_equal(scores, before + np.float32(2.0) * row)


def test_a_decayed_processor_is_finished_and_skipped(table: np.ndarray) -> None:
    schedule = BiasSchedule(strength=1.0, full_tokens=1, half_life=1.0)
    end = next(t for t in range(100) if schedule.strength_at(t) == 0)  # 1 + 7 half-lives
    processor = StrategyBiasProcessor(table[0], schedule)
    processors = ProcessorList([processor])
    for t in range(end):
        assert list(processors) == [processor], t  # still called for token t
        processors(np.concatenate([PROMPT, np.zeros(t, dtype=np.intc)]), np.zeros(V, np.float32))
    assert processor.finished and list(processors) == []  # every later token: untouched
    constant = StrategyBiasProcessor(table[0], BiasSchedule(strength=1.0))
    for t in range(300):
        constant(np.concatenate([PROMPT, np.zeros(t, dtype=np.intc)]), np.zeros(V, np.float32))
    assert not constant.finished
    assert StrategyBiasProcessor(table[0], BiasSchedule(strength=0.0)).finished
