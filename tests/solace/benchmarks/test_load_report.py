"""The load benchmark's report: a sweep without a tracing comparison keeps the side-by-side
sections an earlier run wrote (one per sampling ratio), and the sampled run gets its own."""

from __future__ import annotations

from solace.benchmarks.load import (
    TRACING_SECTION,
    _tracing_sections,
    replace_section,
    tracing_on,
    tracing_title,
)

OLD = f"""# Benchmarks

old table

## Against the targets

old verdict

{TRACING_SECTION}

every request traced

{tracing_title(0.1)}

a tenth traced
"""


def test_tracing_sections_survive_a_sweep_without_a_comparison() -> None:
    sections = _tracing_sections(OLD)
    assert [s.splitlines()[0] for s in sections] == [TRACING_SECTION, tracing_title(0.1)]
    report = "# Benchmarks\n\nnew table\n\n## Against the targets\n\nnew verdict\n"
    for section in sections:
        report = replace_section(report, section)
    assert "new table" in report and "old table" not in report
    assert "every request traced" in report and "a tenth traced" in report
    assert report.count(TRACING_SECTION) == 2


def test_sampled_tracing_uses_the_standard_head_sampler() -> None:
    assert tracing_on("http://127.0.0.1:1")["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
    sampled = tracing_on("http://127.0.0.1:1", 0.1)
    assert sampled["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert sampled["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    assert tracing_title(1.0) == TRACING_SECTION != tracing_title(0.1)
