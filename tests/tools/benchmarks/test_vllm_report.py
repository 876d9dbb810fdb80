"""The vLLM processor benchmark's report: conditioning is costed against the same engine with no
request conditioned, not against the plain engine, whose speed differs by itself (hand-made
tokens/s; no vLLM needed)."""

from __future__ import annotations

import pytest

from tools.benchmarks.vllm import MODES, change, inside_medians, report

PLAIN, NONE, ALL, MIXTURE, TORCH_STEP = MODES
# The processor engine runs 25% faster than the plain one when idle (an instance effect), so a
# conditioned mode that looks +12.5% "faster" than the plain engine in fact costs 10%.
RESULTS = {
    (8, PLAIN): [6400.0, 4800.0, 8000.0],
    (8, NONE): [8000.0, 6000.0, 10000.0],
    (8, ALL): [7200.0, 5400.0, 9000.0],
    # 5% slower than its partner run in two repeats, 30% in the third: the ratio of medians
    # (7000 / 8000) and the median of the per-repeat ratios (0.95) disagree.
    (8, MIXTURE): [7600.0, 6600.0, 7000.0],
    (8, TORCH_STEP): [6000.0, 4500.0, 7500.0],
}
MICRO = {
    8: {
        "none conditioned": 0.5,
        "all conditioned": 10.0,
        "all mixture": 20.0,
        "mixture, torch step": 40.0,
    }
}


def _row(text: str, mode: str) -> list[str]:
    """The cells after the mode name of batch 8's row for ``mode``."""
    (line,) = [line for line in text.splitlines() if line.startswith(f"    8  {mode} ")]
    return line.split(mode, 1)[1].split(maxsplit=4)


def test_conditioning_is_costed_against_the_same_engine_idle() -> None:
    text = report(RESULTS, MICRO, [8], tokens=64, repeats=3)
    tokens_s, _spread, of_medians, paired, baseline = _row(text, ALL)
    assert tokens_s == "7,200"
    assert (of_medians, paired) == ("-10.0%", "-10.0%")  # not +12.5% against the plain engine
    assert baseline == "same engine, none conditioned"
    assert _row(text, MIXTURE)[2:] == ["-12.5%", "-5.0%", "same engine, none conditioned"]
    # The PyTorch step's run is costed against the same idle runs, side by side.
    assert _row(text, TORCH_STEP)[2:] == ["-25.0%", "-25.0%", "same engine, none conditioned"]


def test_the_header_says_which_step_the_mixture_modes_ran() -> None:
    said = "'all mixture' ran the fused native step (vectorised exp/log)"
    assert said in report(RESULTS, MICRO, [8], 64, 3, native=said)
    assert "native step" not in report(RESULTS, MICRO, [8], 64, 3)


def test_none_conditioned_against_the_plain_engine_is_the_loading_cost() -> None:
    text = report(RESULTS, MICRO, [8], tokens=64, repeats=3)
    assert _row(text, NONE)[2:] == ["+25.0%", "+25.0%", "plain engine (loading + instance)"]
    assert _row(text, PLAIN)[2:] == ["–", "–", "–"]
    assert "SAME engine's 'processor, none conditioned'" in text
    assert "built plain engine first" in text
    assert "built processor engine first" in report(RESULTS, MICRO, [8], 64, 3, True)


def test_apply_share_is_of_the_processor_engines_idle_step() -> None:
    # 8 rows at 8,000 tokens/s: one decode step of the processor engine takes 1,000 µs (the
    # plain engine's would be 1,250 µs).
    text = report(RESULTS, MICRO, [8], tokens=64, repeats=3)
    (line,) = [line for line in text.splitlines() if line.startswith("    8  ") and "/" in line]
    assert " ".join(line.split()) == "8 0.5 / 10.0 / 20.0 / 40.0 1000 0.1% / 1.0% / 2.0% / 4.0%"


def test_change_pairs_runs_by_repeat() -> None:
    of_medians, paired = change([90.0, 150.0, 240.0], [100.0, 120.0, 300.0])
    assert of_medians == pytest.approx(0.25)  # 150 / 120
    assert paired == pytest.approx(-0.10)  # ratios 0.9, 1.25, 0.8
    with pytest.raises(ValueError):
        change([1.0, 2.0], [1.0])


def test_apply_inside_the_engine_is_reported_per_call_against_the_step() -> None:
    # Calls timed inside the engine: 8 per mode, medians 1, 15 and 40 µs; a step is 1,000 µs.
    seconds = {
        (8, NONE): [1e-6] * 8,
        (8, ALL): [10e-6, 15e-6, 15e-6, 90e-6, 15e-6, 12e-6, 20e-6, 14e-6],
        (8, MIXTURE): [40e-6] * 7 + [400e-6],
        (8, TORCH_STEP): [80e-6] * 8,
    }
    inside = inside_medians(seconds, [8])
    assert inside[8] == pytest.approx(
        {
            "none conditioned": 1.0,
            "all conditioned": 15.0,
            "all mixture": 40.0,
            "mixture, torch step": 80.0,
        }
    )
    text = report(RESULTS, MICRO, [8], tokens=64, repeats=3, inside=inside)
    block = text.split("apply() in the engine", 1)[1]
    (line,) = [line for line in block.splitlines() if line.startswith("    8  ")]
    assert " ".join(line.split()) == "8 1.0 / 15.0 / 40.0 / 80.0 0.1% / 1.5% / 4.0% / 8.0%"
    assert "apply() in the engine" not in report(RESULTS, MICRO, [8], 64, 3)


def test_the_torch_step_mode_switches_the_native_step_off_only_for_itself(monkeypatch):
    import os

    from tools.benchmarks.vllm import _native_step, native_step_description

    monkeypatch.delenv("SOLACE_NATIVE_MIXTURE", raising=False)
    with _native_step(False):
        assert os.environ["SOLACE_NATIVE_MIXTURE"] == "0"
    assert "SOLACE_NATIVE_MIXTURE" not in os.environ
    # A run started with the native step off keeps it off in the native mode too, and says so.
    monkeypatch.setenv("SOLACE_NATIVE_MIXTURE", "0")
    with _native_step(True):
        assert os.environ["SOLACE_NATIVE_MIXTURE"] == "0"
    assert "switched off" in native_step_description()
