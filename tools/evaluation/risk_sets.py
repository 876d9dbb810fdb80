"""``solace eval risk`` on sets the screen was never tuned on, and the issue-19 targets.

Sections, for one ``RiskScreen``:

1. generated held-out messages: the held-out side of ``risk_corpus.split`` (whole methods,
   preparatory acts, surface styles and hard-negative families no trainer sees);
2. generated held-out dialogues: the held-out side of ``risk_corpus.split_dialogues``, each
   screened whole (the crisis builds across turns);
3. the frozen hand-written set (``data/risk_frozen_8.yaml``, by a writer blind to the rules,
   the training data and the sets before it), only when asked for: reported at the end of a
   round of work, never tuned on; then the retired sets 1-7, which the trainer reads now
   (figures without targets);
4. ESConv test seeker turns, each screened in its conversation up to and including it;
5. the targets of issue 19, each with its measured value and MET / NOT MET.

Each set is scored per family and overall: must-escalate recall (expect ``escalate``: level
HIGH or above), false escalation (expect ``no_escalate``: level HIGH or above) and passive
flagged (expect ``passive``: level MODERATE or above *and* resources attached). Only counts and
rates are printed, never message text; missed frozen items are named by id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.common.labels import RISK_LEVELS
from tools.training import risk_corpus

_DATA = Path(__file__).with_name("data")
# The frozen hand-written sets: each by a writer blind to the rules, the training data and the
# sets before it; reported once, at the end of a round of work, never tuned on.
FROZEN_SETS = (_DATA / "risk_frozen_8.yaml",)
# Sets 1-7, retired into the trainer's hand-written data after each was reported once
# (``tools.training.risk.HANDWRITTEN_FILES``): shown for what the model learnt from them, with
# no targets, since they measure nothing about generalisation any more.
RETIRED_SETS = tuple(
    Path(risk_corpus.__file__).with_name("data") / f"risk_retired_{i}.yaml" for i in range(1, 8)
)
ESCALATE, PASSIVE, NO_ESCALATE = risk_corpus.ESCALATE, risk_corpus.PASSIVE, risk_corpus.NO_ESCALATE
EXPECTS = (ESCALATE, PASSIVE, NO_ESCALATE)
HIGH = RISK_LEVELS.index("HIGH")
MODERATE = RISK_LEVELS.index("MODERATE")
# The generated sets: the trainer's default seed, so "held out" names exactly what it left out.
SEED = 0
DIALOGUES = 600  # generated; about a third land on the held-out side
MAX_CHARS = 4000  # a screen without settings (the test's stub) gets the platform default

RECALL_TARGET = 0.98
FALSE_ESCALATION_TARGET = 0.05
PASSIVE_TARGET = 0.9
ESCONV_TARGET = 0.005
MIN_DIALOGUES = 50
LATENCY_P50_MS = 5.0


class ScreenLike(Protocol):
    """What the report needs: ``screen(conversation)`` returning a verdict with ``level`` and
    either ``attach_resources`` or ``decision.attach_resources``."""

    def screen(self, conversation: Conversation) -> Any: ...


def attaches_resources(verdict: Any) -> bool:
    """Whether the verdict sends crisis resources: its decision's say, else its own field."""
    decision = getattr(verdict, "decision", None)
    if decision is not None and hasattr(decision, "attach_resources"):
        return bool(decision.attach_resources)
    return bool(getattr(verdict, "attach_resources", False))


@dataclass
class Counts:
    """Outcomes of one group of items, by what each was expected to get."""

    escalate: int = 0
    escalated: int = 0
    negative: int = 0
    false_escalations: int = 0
    passive: int = 0
    flagged: int = 0

    def add(self, expect: str, level: str, resources: bool) -> bool:
        """Count one outcome; True when the screen did what ``expect`` asks."""
        index = RISK_LEVELS.index(level)
        if expect == ESCALATE:
            self.escalate += 1
            self.escalated += index >= HIGH
            return index >= HIGH
        if expect == PASSIVE:
            ok = index >= MODERATE and resources
            self.passive += 1
            self.flagged += ok
            return ok
        if expect != NO_ESCALATE:
            raise ValueError(f"unknown expect {expect!r}")
        self.negative += 1
        self.false_escalations += index >= HIGH
        return index < HIGH

    @property
    def recall(self) -> float | None:
        return self.escalated / self.escalate if self.escalate else None

    @property
    def false_rate(self) -> float | None:
        return self.false_escalations / self.negative if self.negative else None

    @property
    def passive_rate(self) -> float | None:
        return self.flagged / self.passive if self.passive else None

    @property
    def total(self) -> int:
        return self.escalate + self.negative + self.passive


@dataclass(frozen=True)
class Item:
    """One thing to screen: ``groups`` are the rows it counts in besides the overall one."""

    id: str
    groups: tuple[str, ...]
    expect: str
    conversation: Conversation


@dataclass
class SetReport:
    """A screened set: overall and per-group counts, the ids it got wrong, call latencies."""

    name: str
    overall: Counts = field(default_factory=Counts)
    groups: dict[str, Counts] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)


def score(screen: ScreenLike, name: str, items: Iterable[Item]) -> SetReport:
    report = SetReport(name)
    for item in items:
        started = time.perf_counter()
        verdict = screen.screen(item.conversation)
        report.latencies_ms.append((time.perf_counter() - started) * 1000.0)
        resources = attaches_resources(verdict)
        ok = report.overall.add(item.expect, verdict.level, resources)
        for group in item.groups:
            report.groups.setdefault(group, Counts()).add(item.expect, verdict.level, resources)
        if not ok:
            report.missed.append(item.id)
    return report


def _rate(value: float | None, hits: int, total: int) -> str:
    return f"{value:.3f} ({hits}/{total})" if value is not None else "-"


def _row(label: str, c: Counts) -> str:
    return (
        f"    {label:38s} {c.total:5d}  {_rate(c.recall, c.escalated, c.escalate):>17s}"
        f"  {_rate(c.false_rate, c.false_escalations, c.negative):>17s}"
        f"  {_rate(c.passive_rate, c.flagged, c.passive):>17s}"
    )


def report_lines(report: SetReport, show_missed: bool = False) -> list[str]:
    columns = ("must-escalate", "false escal.", "passive")
    head = f"    {'':38s} {'n':>5s}" + "".join(f"  {c:>17s}" for c in columns)
    out = [head, _row("overall", report.overall)]
    # The held-out axes first (what the split left out), then the families.
    order = sorted(report.groups, key=lambda g: (not g.startswith("held-out"), g))
    out += [_row(group, report.groups[group]) for group in order]
    if show_missed and report.missed:
        out.append("  missed ids: " + ", ".join(report.missed))
    return out


# --- the sets ---------------------------------------------------------------------------------


def _seeker_only(text: str, max_chars: int) -> Conversation:
    return Conversation((Turn(SEEKER, text[:max_chars]),))


def _turns(turns: Iterable[Sequence[str]], max_chars: int) -> Conversation:
    roles = {"seeker": SEEKER, "supporter": SUPPORTER}
    return Conversation(tuple(Turn(roles[role], text[:max_chars]) for role, text in turns))


def _held_out_axes(method: str, act: str, style: str, family: str) -> tuple[str, ...]:
    """The held-out families an item belongs to, as report rows ("method:drowning")."""
    axes = (
        ("method", method, risk_corpus.HELD_OUT_METHODS),
        ("act", act, risk_corpus.HELD_OUT_ACTS),
        ("style", style, risk_corpus.HELD_OUT_STYLES),
        ("family", family, risk_corpus.HELD_OUT_FAMILIES),
    )
    return tuple(f"held-out {kind}:{value}" for kind, value, held in axes if value in held)


def generated_message_items(max_chars: int, seed: int = SEED) -> list[Item]:
    _, held = risk_corpus.split(risk_corpus.generate(seed))
    return [
        Item(
            f"gen-{i}",
            (*_held_out_axes(e.method, e.act, e.style, e.family), e.family),
            e.expect,
            _seeker_only(e.text, max_chars),
        )
        for i, e in enumerate(held)
    ]


def generated_dialogue_items(max_chars: int, seed: int = SEED) -> list[Item]:
    _, held = risk_corpus.split_dialogues(risk_corpus.generate_dialogues(seed, DIALOGUES))
    return [
        Item(
            f"dlg-{i}",
            (*_held_out_axes(d.method, d.act, d.style, d.family), d.family),
            d.expect,
            _turns(d.turns, max_chars),
        )
        for i, d in enumerate(held)
    ]


def frozen_items(path: Path, max_chars: int) -> tuple[list[Item], list[Item]]:
    """(messages, conversations) of the frozen file: top-level ``messages: [{id, family,
    expect, text}]`` and ``conversations: [{id, family, expect, turns: [[role, text], ...]}]``,
    role seeker or supporter."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    messages = [
        Item(str(m["id"]), (m["family"],), _expect(m), _seeker_only(m["text"], max_chars))
        for m in data.get("messages", [])
    ]
    conversations = [
        Item(str(c["id"]), (c["family"],), _expect(c), _turns(c["turns"], max_chars))
        for c in data.get("conversations", [])
    ]
    return messages, conversations


def _expect(entry: dict) -> str:
    if entry["expect"] not in EXPECTS:
        raise ValueError(f"frozen item {entry['id']}: expect {entry['expect']!r}")
    return entry["expect"]


def _esconv_prefixes(path: Path, max_chars: int) -> Iterator[Conversation]:
    """Every seeker turn of every test dialogue, with the dialogue up to and including it."""
    roles = {"usr": SEEKER, "sys": SUPPORTER}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            turns: list[Turn] = []
            for turn in json.loads(line)["dialog"]:
                turns.append(Turn(roles[turn["speaker"]], turn["text"][:max_chars]))
                if turns[-1].role == SEEKER:
                    yield Conversation(tuple(turns))


@dataclass(frozen=True)
class EsconvResult:
    turns: int
    escalated: int
    levels: dict[str, int]
    # Per request, a dialogue's requests in order: as a partner app sends them (the whole
    # conversation each time), so earlier turns come from the screen's memos and the newest
    # turn is read and encoded cold.
    p50_ms: float | None = field(default=None, compare=False)

    @property
    def rate(self) -> float | None:
        return self.escalated / self.turns if self.turns else None


def screen_esconv(screen: ScreenLike, path: Path, max_chars: int) -> EsconvResult:
    levels = dict.fromkeys(RISK_LEVELS, 0)
    samples: list[float] = []
    for conversation in _esconv_prefixes(path, max_chars):
        started = time.perf_counter()
        level = screen.screen(conversation).level
        samples.append((time.perf_counter() - started) * 1000.0)
        levels[level] += 1
    escalated = sum(n for level, n in levels.items() if RISK_LEVELS.index(level) >= HIGH)
    p50 = float(np.percentile(samples, 50)) if samples else None
    return EsconvResult(sum(levels.values()), escalated, levels, p50)


# --- targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One issue-19 target. ``threshold`` None: reported only, no bar to meet."""

    name: str
    measured: float | None
    op: str = ">="
    threshold: float | None = None
    unit: str = ""
    digits: int = 3

    @property
    def status(self) -> str:
        if self.measured is None:
            return "NOT RUN"
        if self.threshold is None:
            return "REPORTED"
        if self.op == ">=":
            return "MET" if self.measured >= self.threshold else "NOT MET"
        return "MET" if self.measured <= self.threshold else "NOT MET"

    def line(self) -> str:
        value = "-" if self.measured is None else f"{self.measured:.{self.digits}f}{self.unit}"
        bar = ""
        if self.threshold is not None:
            bar = f"  (target {self.op} {self.threshold:g}{self.unit})"
        return f"  [{self.status:8s}] {self.name}: {value}{bar}"


def set_targets(report: SetReport | None, name: str) -> list[Target]:
    """Recall, false escalation and passive targets of one set (NOT RUN when it was not)."""
    c = report.overall if report is not None else Counts()
    targets = [
        Target(f"{name}: must-escalate recall", c.recall, ">=", RECALL_TARGET),
        Target(f"{name}: false escalation", c.false_rate, "<=", FALSE_ESCALATION_TARGET),
    ]
    # A set without passive items (the frozen conversations may have none) has no such target.
    if report is None or c.passive:
        targets.append(Target(f"{name}: passive flagged", c.passive_rate, ">=", PASSIVE_TARGET))
    return targets


@dataclass
class Results:
    """Everything the summary reads."""

    messages: SetReport | None = None
    dialogues: SetReport | None = None
    # The frozen sets and the retired ones: (name, messages, conversations).
    frozen: list[tuple[str, SetReport, SetReport]] = field(default_factory=list)
    retired: list[tuple[str, SetReport, SetReport]] = field(default_factory=list)
    esconv: EsconvResult | None = None
    cssrs_recall: float | None = None


def targets(results: Results) -> list[Target]:
    out = set_targets(results.messages, "generated held-out messages")
    out += set_targets(results.dialogues, "generated held-out dialogues")
    n_dialogues = None if results.dialogues is None else float(results.dialogues.overall.total)
    out.append(
        Target("generated held-out dialogues: count", n_dialogues, ">=", MIN_DIALOGUES, digits=0)
    )
    frozen = results.frozen or [(_set_name(path), None, None) for path in FROZEN_SETS]
    for name, messages, conversations in frozen:
        out += set_targets(messages, f"{name} messages")
        out += set_targets(conversations, f"{name} conversations")
    esconv = None if results.esconv is None else results.esconv.rate
    out.append(Target("ESConv seeker turns in context: escalated", esconv, "<=", ESCONV_TARGET))
    out.append(Target("C-SSRS Reddit Behavior+Attempt users: HIGH+ recall", results.cssrs_recall))
    p50 = None if results.esconv is None else results.esconv.p50_ms
    out.append(
        Target(
            "screen latency p50 per request (ESConv requests in order)",
            p50,
            "<=",
            LATENCY_P50_MS,
            " ms",
            2,
        )
    )
    return out


def summary_lines(results: Results) -> list[str]:
    return [
        "target summary (issue 19):",
        *(t.line() for t in targets(results)),
        "  (INVALID_ARGUMENT on bad input and failing closed when the screen is down are"
        " checked by the test suite;",
        "   latency: each ESConv request timed with the dialogue's earlier requests before it, so"
        " only its newest turn is cold; the cold row above reads every turn again)",
    ]


# --- the report -------------------------------------------------------------------------------


def _max_chars(screen: ScreenLike) -> int:
    settings = getattr(screen, "_settings", None)
    return int(getattr(settings, "max_text_chars", MAX_CHARS))


def _section(
    out: list[str], title: str, run: Callable[[], SetReport], show_missed: bool = False
) -> SetReport:
    report = run()
    out.append(f"{title}: {report.overall.total} items")
    out.extend(report_lines(report, show_missed))
    return report


def evaluate(
    screen: ScreenLike,
    data_dir: Path | None,
    frozen: bool = False,
    frozen_sets: Sequence[Path] = FROZEN_SETS,
    retired_sets: Sequence[Path] = RETIRED_SETS,
    cssrs_recall: float | None = None,
) -> tuple[list[str], Results]:
    """Sections 1-5 for ``screen``. ``data_dir`` None skips ESConv; ``frozen`` adds the
    frozen sets (with targets) and the retired ones (without). Returns the lines and the
    figures the summary was made from."""
    max_chars = _max_chars(screen)
    results = Results(cssrs_recall=cssrs_recall)
    out: list[str] = []
    results.messages = _section(
        out,
        "generated held-out messages (risk_corpus.split, never trained on)",
        lambda: score(screen, "messages", generated_message_items(max_chars)),
    )
    results.dialogues = _section(
        out,
        "generated held-out dialogues (risk_corpus.split_dialogues, screened whole)",
        lambda: score(screen, "dialogues", generated_dialogue_items(max_chars)),
    )
    if frozen:
        for path in frozen_sets:
            out.extend(
                _frozen_section(
                    screen,
                    path,
                    _set_name(path),
                    max_chars,
                    results.frozen,
                    "reported once, at the end; never tuned on",
                )
            )
        for path in retired_sets:
            out.extend(
                _frozen_section(
                    screen,
                    path,
                    _set_name(path),
                    max_chars,
                    results.retired,
                    "retired into training: what the model learnt, not how it generalises",
                )
            )
    if data_dir is not None:
        out.extend(_esconv_section(screen, data_dir, max_chars, results))
    out.extend(summary_lines(results))
    return out, results


def _set_name(path: Path) -> str:
    """``frozen set 5`` for risk_frozen_5.yaml, ``retired set 2`` for risk_retired_2.yaml."""
    kind, _, number = path.stem.removeprefix("risk_").partition("_")
    return f"{kind} set {number}" if number else f"{kind} set"


def _frozen_section(
    screen: ScreenLike,
    path: Path,
    name: str,
    max_chars: int,
    into: list[tuple[str, SetReport, SetReport]],
    status: str,
) -> list[str]:
    if not path.exists():
        return [f"{name}: not found at {path}"]
    out = [f"{name} ({path.name}): {status}"]
    messages, conversations = frozen_items(path, max_chars)
    reports = [
        _section(
            out, f"{name} {kind}", lambda items=items, kind=kind: score(screen, kind, items), True
        )
        for kind, items in (("messages", messages), ("conversations", conversations))
    ]
    into.append((name, reports[0], reports[1]))
    return out


def _esconv_section(
    screen: ScreenLike, data_dir: Path, max_chars: int, results: Results
) -> list[str]:
    path = data_dir / "esconv" / "test.txt"
    if not path.exists():
        return [f"ESConv test seeker turns in context: not found under {data_dir}"]
    result = screen_esconv(screen, path, max_chars)
    results.esconv = result
    return [
        "ESConv test seeker turns, each screened in its conversation so far:",
        f"  seeker turns: {result.turns}, escalated (HIGH+): "
        f"{_rate(result.rate, result.escalated, result.turns)}",
        f"  p50 per request (requests in order, newest turn cold): {result.p50_ms:.2f} ms"
        if result.p50_ms is not None
        else "  p50 per request: -",
        "  levels: " + ", ".join(f"{k} {result.levels[k]}" for k in RISK_LEVELS),
    ]
