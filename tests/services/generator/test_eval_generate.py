"""``solace eval generate`` on a small ESConv test sample: the composer's replies follow the
requested strategy as the strategy service's utterance classifier reads them (issue target:
adherence ≥ 90%), and the table reports them beside the classifier's own ceiling."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.config import Settings
from tools.evaluation.generate import Report, evaluate, run

SAMPLES = 40
# The composer's rows only: the built SmolLM2 (the llamacpp engine, configured wherever it was
# built) would add every method on a real LLM, minutes of decoding.
SETTINGS = Settings().with_overrides(llm_model="off")
TEST_SPLIT = Path(SETTINGS.data_dir) / "esconv" / "test.txt"

pytestmark = pytest.mark.skipif(
    not TEST_SPLIT.is_file(),
    reason=f"ESConv test split not found at {TEST_SPLIT} (shared data, never committed)",
)


@pytest.fixture(scope="module")
def report() -> Report:
    result = evaluate(SETTINGS, samples=SAMPLES)
    if result.row("gold (reference)", "-").adherence is None:
        pytest.skip("strategy classifier unavailable (encoder not built: `solace models build`)")
    return result


def test_direct_composer_replies_follow_the_requested_strategy(report: Report) -> None:
    direct = report.row("DIRECT")
    assert report.samples == SAMPLES
    assert direct.adherence is not None and direct.adherence >= 0.9, direct.misread


def test_every_method_on_the_composer_follows_the_strategy_far_above_the_gold_ceiling(
    report: Report,
) -> None:
    gold = report.row("gold (reference)", "-").adherence
    assert gold is not None
    for row in report.rows:
        if row.engine == "composer":
            # 40 turns are few (one miss is 2.5 points), so this guards the methods against a
            # regression without restating the 300-turn target.
            assert row.adherence is not None and row.adherence >= 0.8, (row.name, row.misread)
            assert row.adherence > gold


def test_table_prints_adherence_and_the_misreadings() -> None:
    text = run(SETTINGS, samples=10, seed=7)
    assert "10 supporter turns sampled with seed 7" in text
    assert "gold (reference)" in text and "%" in text
    assert "misreadings (requested → read)" in text


def test_composer_replies_pass_the_output_screen_and_their_length_is_reported(
    report: Report,
) -> None:
    for row in report.rows:
        if row.engine == "composer":
            # The composer's templates are written to pass the screen that guards the LLM.
            assert row.screened == 1.0, row.name
            assert row.words is not None and 5 < row.words < 120


def test_the_methods_can_be_narrowed_and_an_unknown_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.common.errors import InvalidArgument

    monkeypatch.setenv("SOLACE_EVAL_GENERATE_METHODS", "direct")
    narrowed = evaluate(SETTINGS, samples=5)
    assert {r.name for r in narrowed.rows} == {"DIRECT", "gold (reference)"}
    monkeypatch.setenv("SOLACE_EVAL_GENERATE_METHODS", "direct,telepathy")
    with pytest.raises(InvalidArgument, match="SOLACE_EVAL_GENERATE_METHODS"):
        evaluate(SETTINGS, samples=5)
