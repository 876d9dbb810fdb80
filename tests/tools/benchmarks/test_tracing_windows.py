"""The interleaved-windows tracing benchmark: which calls count for which mode, the pooled and
per-pair changes, and the report section that a plain load sweep keeps."""

from __future__ import annotations

import json

import pytest

from tools.benchmarks.load import TRACING_SECTION, _tracing_sections, replace_section
from tools.benchmarks.tracing_windows import (
    MIN_WINDOW_CALLS,
    SECTION,
    Sample,
    WindowRun,
    pooled_change_interval,
    read_samples,
    render,
    section_title,
    summarize,
    window_pairs,
)


def _window(index: int, client_ms: float, server_ms: float, calls: int = MIN_WINDOW_CALLS):
    return [Sample(index, index % 2 == 1, client_ms, server_ms) for _ in range(calls)]


def test_pairs_are_an_untraced_window_and_the_traced_one_after_it():
    samples = [
        *_window(4, 100, 80),
        *_window(5, 110, 90),
        *_window(6, 200, 160),  # its traced neighbour has too few calls
        *_window(7, 230, 170, calls=MIN_WINDOW_CALLS - 1),
        *_window(9, 300, 250),  # a traced window whose untraced one was not recorded
    ]
    pairs = window_pairs(samples)
    assert [(off[0].window, on[0].window) for off, on in pairs] == [(4, 5)]


def test_summary_pools_each_mode_and_changes_per_pair():
    samples = [*_window(0, 100, 80), *_window(1, 104, 82), *_window(2, 200, 160)]
    samples += _window(3, 220, 168)
    summary = summarize(samples)
    assert summary.calls == (2 * MIN_WINDOW_CALLS, 2 * MIN_WINDOW_CALLS)
    assert summary.client_mean == pytest.approx((150.0, 162.0))
    assert summary.pair_client_p50 == pytest.approx([4.0, 10.0])
    assert summary.pair_server_p50 == pytest.approx([2.5, 5.0])
    # Pooled p50 over 40 calls per mode: the upper half's value (index round(0.5 * 39) = 20).
    assert summary.client_p50 == (200.0, 220.0)
    assert summary.client_p50_change == pytest.approx(10.0)
    assert summary.verdict == "NOT met"


def test_one_mode_missing_is_an_error_not_a_verdict():
    with pytest.raises(ValueError, match="one of the modes"):
        summarize(_window(0, 100, 80))


def test_the_section_reports_both_modes_and_survives_a_plain_sweep(tmp_path):
    path = tmp_path / "windows.json"
    raw = [[0, False, 100.0, 80.0]] * 25 + [[1, True, 103.0, 81.0]] * 25
    path.write_text(json.dumps({"window_s": 10, "settle_s": 2, "samples": raw}))
    samples = read_samples(path)
    assert samples[0] == Sample(0, False, 100.0, 80.0)
    summary = summarize(samples)
    run = WindowRun(samples, spans=350, traces=25, requests=50, rps=40.0)
    section = render([run], summary, 8, "60s", 10, (150.0, 300.0, 1500.0), "cmd")
    assert section.startswith(SECTION + "\n")
    assert "| untraced | 25 | 100.0 |" in section and "| traced | 25 | 103.0 |" in section
    assert "**+3.0%**" in section and "**met**" in section
    assert "14.0 spans per traced call" in section
    assert "150 µs" in section and "300 µs" in section
    report = replace_section(f"# Benchmarks\n\n{TRACING_SECTION}\n\nold pairs\n", section)
    assert [s.splitlines()[0] for s in _tracing_sections(report)] == [TRACING_SECTION, SECTION]


def test_a_sampled_share_gets_a_section_of_its_own():
    samples = [*_window(0, 100, 80), *_window(1, 101, 80)]
    run = WindowRun(samples, spans=0, traces=0, requests=40, rps=40.0)
    section = render([run], summarize(samples), 8, "60s", 10, None, "cmd", traced_share=0.1)
    assert section_title(0.1) != section_title(1.0) == SECTION
    assert section.startswith(section_title(0.1) + "\n")
    assert "with probability 0.1" in section and "no spans received" in section
    report = replace_section(f"# Benchmarks\n\n{SECTION}\n\nall traced\n", section)
    assert [s.splitlines()[0] for s in _tracing_sections(report)] == [SECTION, section_title(0.1)]


def test_the_a_a_run_traces_nothing_and_gives_no_verdict():
    samples = [*_window(0, 100, 80), *_window(1, 102, 80)]
    run = WindowRun(samples, spans=0, traces=0, requests=40, rps=40.0)
    section = render([run], summarize(samples), 8, "60s", 10, None, "cmd", traced_share=0.0)
    assert section.startswith(section_title(0.0) + "\n")
    assert section_title(0.0) not in (section_title(0.1), SECTION)
    assert "unsampled W3C `traceparent`" in section and "**+2.0%**" in section
    assert "A/A calibration" in section and "Target" not in section


def test_the_interval_resamples_whole_window_pairs():
    # Eight pairs, each traced window 6-13% slower than its neighbour, at levels that drift.
    samples = []
    for k in range(8):
        base, slower = 100 + 20 * k, 1.06 + k / 100
        samples += [Sample(2 * k, False, base + i % 7, base) for i in range(30)]
        samples += [Sample(2 * k + 1, True, slower * (base + i % 7), base) for i in range(30)]
    low, high = pooled_change_interval(window_pairs(samples))
    assert 5 < low < high < 14
    assert summarize(samples).client_p50_interval == (low, high)
    assert pooled_change_interval(window_pairs(samples)[:4]) is None, "too few pairs"
