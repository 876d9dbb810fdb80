"""Defense head selection: the CV ranking decides among the candidates that read the behaviour
cases right; when none does, the CV ranking stands and every candidate is reported."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.labels import DEFENSE_LEVELS
from services.defense.features import DEFENSE_BLOCKS
from tools.training import defense


@pytest.fixture(autouse=True)
def one_cv_repeat(monkeypatch):
    # The rule, not the ranking's precision, is under test: one 5-fold pass instead of three.
    monkeypatch.setattr(defense, "CV_REPEATS", (0,))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(len(DEFENSE_LEVELS)), 6)
    width = max(end for _, end in DEFENSE_BLOCKS.values())
    x = rng.normal(size=(len(y), width))
    x[:, : len(DEFENSE_LEVELS)] += 2.0 * np.eye(len(DEFENSE_LEVELS))[y]  # learnable signal
    return x, y


def test_the_best_candidate_that_passes_the_behaviour_cases_is_chosen(data, monkeypatch):
    x, y = data
    ranking = defense.select_model(x, y, verbose=False)
    grid = ranking["grid"]
    ranked = sorted(defense.CANDIDATES, key=lambda c: -grid[defense.describe(c)]["mean"])
    assert ranking["chosen"] == ranked[0] and ranking["failed_behaviour_cases"] is None

    # The CV-best candidate misreads a case; the next one in CV order is taken.
    monkeypatch.setattr(defense, "passes_behaviour", lambda cand, *_: cand is not ranked[0])
    cases = x[:2]
    chosen = defense.select_model(x, y, verbose=False, cases=cases)
    assert chosen["chosen"] == ranked[1]
    assert chosen["failed_behaviour_cases"] == [defense.describe(ranked[0])]


def test_when_no_candidate_passes_the_cv_ranking_stands(data, monkeypatch):
    x, y = data
    monkeypatch.setattr(defense, "passes_behaviour", lambda *_: False)
    chosen = defense.select_model(x, y, verbose=False, cases=x[:2])
    assert len(chosen["failed_behaviour_cases"]) == len(defense.CANDIDATES)
    best = max(chosen["grid"].values(), key=lambda v: v["mean"])["mean"]
    assert chosen["grid"][defense.describe(chosen["chosen"])]["mean"] == best


def test_the_behaviour_check_reads_fitted_predictions(data):
    x, y = data
    candidate = defense.CANDIDATES[0]
    weight, bias = defense.fit_linear(candidate, x, y)
    # Two rows whose fitted predictions are known: the check passes exactly when they are
    # among the expected levels of the two cases.
    rows = x[[0, len(y) - 1]]
    predicted = [DEFENSE_LEVELS[int(i)] for i in (rows @ weight + bias).argmax(1)]
    expected = [e for _, e in defense.BEHAVIOUR_CASES]
    assert defense.passes_behaviour(candidate, x, y, rows) == all(
        p in e for p, e in zip(predicted, expected, strict=True)
    )
