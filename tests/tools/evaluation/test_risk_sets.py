"""The arithmetic of the held-out / frozen report, on a stub screen (no rules, no model)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.common.domain import Conversation
from tools.evaluation import risk_sets as rs


@dataclass(frozen=True)
class _Decision:
    attach_resources: bool


@dataclass(frozen=True)
class _Verdict:
    level: str
    attach_resources: bool = False
    decision: _Decision | None = None


class _Stub:
    """Answers by keyword in the last seeker turn, so each test controls every outcome."""

    def __init__(self, answers: dict[str, _Verdict], default: _Verdict) -> None:
        self.answers = answers
        self.default = default
        self.calls = 0

    def screen(self, conversation: Conversation) -> _Verdict:
        self.calls += 1
        text = conversation.last_seeker_text
        return next((v for key, v in self.answers.items() if key in text), self.default)


def _item(i: int, expect: str, text: str, family: str = "f") -> rs.Item:
    return rs.Item(f"id{i}", (family,), expect, rs._seeker_only(text, 100))


def test_rates_count_what_each_expect_asks() -> None:
    stub = _Stub(
        {
            "hit": _Verdict("HIGH"),
            "imminent": _Verdict("IMMINENT"),
            "miss": _Verdict("MODERATE", attach_resources=True),
            "flag": _Verdict("MODERATE", attach_resources=True),
            "noresources": _Verdict("MODERATE"),
            # A decision object overrides the verdict's own field.
            "decided": _Verdict("MODERATE", decision=_Decision(True)),
            "false": _Verdict("HIGH"),
        },
        _Verdict("NONE"),
    )
    items = [
        _item(0, rs.ESCALATE, "hit", "a"),
        _item(1, rs.ESCALATE, "imminent", "a"),
        _item(2, rs.ESCALATE, "miss", "b"),
        _item(3, rs.PASSIVE, "flag", "b"),
        _item(4, rs.PASSIVE, "noresources", "b"),
        _item(5, rs.PASSIVE, "decided", "b"),
        _item(6, rs.NO_ESCALATE, "false", "c"),
        _item(7, rs.NO_ESCALATE, "fine", "c"),
        _item(8, rs.NO_ESCALATE, "fine", "c"),
        _item(9, rs.NO_ESCALATE, "fine", "c"),
    ]
    report = rs.score(stub, "t", items)
    overall = report.overall
    assert (overall.escalated, overall.escalate) == (2, 3)
    assert overall.recall == pytest.approx(2 / 3)
    assert overall.passive_rate == pytest.approx(2 / 3)
    assert overall.false_rate == pytest.approx(1 / 4)
    assert report.groups["a"].recall == 1.0
    assert report.groups["c"].recall is None
    assert report.missed == ["id2", "id4", "id6"]
    assert stub.calls == len(items) == len(report.latencies_ms)
    lines = "\n".join(rs.report_lines(report, show_missed=True))
    assert "0.667 (2/3)" in lines and "0.250 (1/4)" in lines
    assert "missed ids: id2, id4, id6" in lines


def test_unknown_expect_is_an_error() -> None:
    with pytest.raises(ValueError):
        rs.Counts().add("maybe", "NONE", False)


def _summary(results: rs.Results) -> dict[str, str]:
    return {t.name: t.status for t in rs.targets(results)}


def _report(escalated: int, escalate: int, false: int, negative: int, flagged: int, passive: int):
    counts = rs.Counts(escalate, escalated, negative, false, passive, flagged)
    return rs.SetReport("x", counts, latencies_ms=[1.0, 2.0, 9.0])


def test_targets_met_and_not_met() -> None:
    results = rs.Results(
        messages=_report(98, 100, 5, 100, 9, 10),  # on every bar: all MET
        dialogues=_report(97, 100, 6, 100, 8, 10),  # under every bar
        esconv=rs.EsconvResult(1000, 6, {}, p50_ms=2.0),
        cssrs_recall=0.5,
    )
    status = _summary(results)
    assert status["generated held-out messages: must-escalate recall"] == "MET"
    assert status["generated held-out messages: false escalation"] == "MET"
    assert status["generated held-out messages: passive flagged"] == "MET"
    assert status["generated held-out dialogues: must-escalate recall"] == "NOT MET"
    assert status["generated held-out dialogues: false escalation"] == "NOT MET"
    assert status["generated held-out dialogues: passive flagged"] == "NOT MET"
    assert status["generated held-out dialogues: count"] == "MET"  # 220 items
    assert status["frozen set 8 messages: must-escalate recall"] == "NOT RUN"
    assert status["ESConv seeker turns in context: escalated"] == "NOT MET"  # 0.6%
    assert status["C-SSRS Reddit Behavior+Attempt users: HIGH+ recall"] == "REPORTED"
    # The latency target reads the ESConv requests timed in order, not the held-out calls.
    assert status["screen latency p50 per request (ESConv requests in order)"] == "MET"
    lines = "\n".join(rs.summary_lines(results))
    assert "[MET     ] generated held-out messages: must-escalate recall: 0.980" in lines
    assert "[NOT MET ] ESConv seeker turns in context: escalated: 0.006  (target <= 0.005)" in lines


def test_a_set_without_passive_items_has_no_passive_target() -> None:
    empty = _report(0, 0, 0, 0, 0, 0)
    results = rs.Results(frozen=[("frozen set 5", empty, _report(10, 10, 0, 5, 0, 0))])
    status = _summary(results)
    assert status["frozen set 5 conversations: must-escalate recall"] == "MET"
    assert "frozen set 5 conversations: passive flagged" not in status


def test_evaluate_reads_frozen_and_esconv_and_prints_no_text(tmp_path: Path) -> None:
    frozen = tmp_path / "frozen.yaml"
    frozen.write_text(
        "messages:\n"
        "  - {id: m1, family: means, expect: escalate, text: 'SECRET-crisis'}\n"
        "  - {id: m2, family: idiom, expect: no_escalate, text: 'SECRET-idiom'}\n"
        "conversations:\n"
        "  - id: c1\n    family: build\n    expect: escalate\n"
        "    turns: [[seeker, 'SECRET-a'], [supporter, 'ok?'], [seeker, 'SECRET-crisis']]\n",
        encoding="utf-8",
    )
    esconv = tmp_path / "esconv"
    esconv.mkdir()
    dialog = [
        {"text": "hello", "speaker": "sys"},
        {"text": "SECRET-x", "speaker": "usr"},
        {"text": "tell me more", "speaker": "sys"},
        {"text": "SECRET-y", "speaker": "usr"},
        {"text": "SECRET-z", "speaker": "usr"},
    ]
    (esconv / "test.txt").write_text(json.dumps({"dialog": dialog}) + "\n", encoding="utf-8")
    stub = _Stub({"crisis": _Verdict("HIGH")}, _Verdict("NONE"))
    retired = tmp_path / "risk_retired_9.yaml"
    retired.write_text(frozen.read_text(encoding="utf-8"), encoding="utf-8")
    lines, results = rs.evaluate(
        stub, tmp_path, frozen=True, frozen_sets=[frozen], retired_sets=[retired]
    )
    text = "\n".join(lines)
    assert "SECRET" not in text
    assert "reported once" in text and "never tuned on" in text
    name, messages, conversations = results.frozen[0]
    assert messages.overall.recall == 1.0 and conversations.overall.escalated == 1
    # Every seeker turn, each with the conversation up to it: three screens, none escalated.
    assert results.esconv == rs.EsconvResult(
        3, 0, {"NONE": 3, "LOW": 0, "MODERATE": 0, "HIGH": 0, "IMMINENT": 0}
    )
    assert results.dialogues is not None and results.dialogues.overall.total >= 50
    assert "target summary" in text
    assert f"{name} messages: must-escalate recall" in text
    # A retired set is reported as its own section, without targets of its own.
    retired_name, retired_messages, _ = results.retired[0]
    assert retired_name == "retired set 9" and retired_messages.overall.recall == 1.0
    assert "retired into training" in text
    assert "retired set 9 messages: must-escalate recall" not in text


def test_without_frozen_the_frozen_set_is_not_run(tmp_path: Path) -> None:
    stub = _Stub({}, _Verdict("NONE"))
    lines, results = rs.evaluate(stub, None, frozen=False)
    assert results.frozen == [] and results.esconv is None
    assert any("[NOT RUN ] frozen set 8 messages" in line for line in lines)
    assert any("[NOT RUN ] frozen set 8 conversations" in line for line in lines)


def test_the_cli_takes_frozen_for_risk_only_when_asked() -> None:
    from solace_cli.cli import build_parser

    assert build_parser().parse_args(["eval", "risk", "--frozen"]).frozen is True
    assert build_parser().parse_args(["eval", "risk"]).frozen is False


@pytest.mark.parametrize(
    "path",
    [*rs.FROZEN_SETS, *rs.RETIRED_SETS],
    ids=lambda p: p.name,
)
def test_every_packaged_frozen_set_loads_with_known_expectations(path: Path) -> None:
    # Only shapes are checked here: the sets are read by `solace eval risk --frozen`, never
    # by a test that could be tuned against them.
    messages, conversations = rs.frozen_items(path, rs.MAX_CHARS)
    items = [*messages, *conversations]
    assert messages, path
    assert len({i.id for i in items}) == len(items)
    assert {i.expect for i in items} <= set(rs.EXPECTS)
    for item in conversations:
        assert item.conversation.turns[-1].role == "seeker"
