"""The load benchmark's report: a sweep without a tracing comparison keeps the side-by-side
sections an earlier run wrote (one per sampling ratio), and the sampled run gets its own; the
report names the served layout and sets the two topologies side by side."""

from __future__ import annotations

from services.common.config import Settings
from tools.benchmarks.load import (
    TOPOLOGY_SECTION,
    TRACING_SECTION,
    LoadPoint,
    _tracing_sections,
    layout,
    render_report,
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


def test_the_report_names_the_layout_and_puts_both_topologies_side_by_side(monkeypatch) -> None:
    monkeypatch.setattr("services.common.serve_options.usable_cpus", lambda: 2)
    colocated, services = Settings(), Settings().with_overrides(serve_topology="services")
    assert "2 Support ingress replicas" in layout(colocated)
    assert "one deployment per service, 1 replica(s) each" in layout(services)
    fast = LoadPoint("8", 8, 3000, 0, 101.5, 70, 110, 140, {"risk": 4.0})
    slow = LoadPoint("8", 8, 1700, 0, 57.2, 130, 200, 250, {"risk": 5.0})
    report = render_report(
        [fast],
        [],
        "30s",
        "plot.png",
        None,
        layout(colocated),
        [(layout(colocated), fast), (layout(services), slow)],
    )
    assert layout(colocated) in report.split(TOPOLOGY_SECTION)[0], "the setup line"
    rows = [line for line in report.split(TOPOLOGY_SECTION)[1].splitlines() if "topology" in line]
    assert [r.split(" | ")[1] for r in rows[-2:]] == ["101.5", "57.2"]
    assert "8 users: 101.5 req/s, p99 140 ms, 0 failures — met" in report


def test_the_classifier_section_survives_a_load_sweep() -> None:
    """A sweep rewrites benchmarks.md; the classifier and LLM figures kept by hand stay in it."""
    from tools.benchmarks.load import CLASSIFIER_SECTION, LLM_SECTION, keep_sections

    section = f"{CLASSIFIER_SECTION}: new text and memo hits\n\nbatch 1: 5.3 ms\n"
    llm = f"{LLM_SECTION} (llamacpp, SmolLM2)\n\n| 1 | 87.0 |\n"
    previous = OLD + "\n" + section + "\n" + llm
    merged = keep_sections("# Benchmarks\n\nnew table\n", previous, compared=True)
    assert merged.startswith("# Benchmarks\n\nnew table\n")
    assert section in merged and merged.endswith(llm)
    assert TRACING_SECTION not in merged  # a sweep that compared wrote its own
