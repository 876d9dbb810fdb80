"""``solace bench llm``'s table: one row per thread count, medians with their spread, and the
concurrent rows' honest caveat (one context, requests decoded one after the other)."""

from __future__ import annotations

import dataclasses

from tools.benchmarks.llm import Row, render


def test_the_report_has_one_row_per_thread_count() -> None:
    row = Row(
        threads=1,
        stream_tok_s=[50.0, 60.0, 70.0],
        decode_tok_s=[80.0, 90.0, 100.0],
        ttft_ms=[100.0, 120.0, 300.0],
        stream_tokens=[60, 60, 45],
        concurrent_tok_s=[55.0, 65.0],
        concurrent_latency_s=[1.0, 2.0, 8.0],
        concurrent_tokens=[60, 40],
    )
    report = render([row, dataclasses.replace(row, threads=2)], "m@abc", 3, 8)
    lines = report.splitlines()
    assert lines[0].startswith("llamacpp engine, m@abc: 3 fresh seeker prompts")
    assert lines[4] == (
        "| 1 | 60.0 (50.0–70.0) | 90.0 (80.0–100.0) | 120 (100–300) | 55.0 | "
        "60.0 (55.0–65.0) | 2.00 / 8.00 | 50.0 |"
    )
    assert lines[5].startswith("| 2 | ")
    assert "decoded one after the other" in report
