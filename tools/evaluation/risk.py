"""``solace eval risk``: how well the safety layer screens, on the probe set and labelled data.

Prints, for the rules alone and (when built) rules + classifier:

- the hand-written probe set (``tests/fixtures/risk_probes.yaml``): recall of HIGH+IMMINENT on
  crisis probes, false escalations on ordinary distress, pass rate per category;
- C-SSRS Reddit (Gaur et al. 2019): user labels mapped Supportive->NONE, Indicator->LOW,
  Ideation->MODERATE, Behavior->HIGH, Attempt->IMMINENT; each user's first ``POSTS_PER_USER``
  posts are screened one by one and the user gets the highest level. Recall of HIGH+IMMINENT,
  false escalation of Supportive users, and the confusion matrix;
- ESConv test seeker turns as ordinary distress (each turn alone, and each whole dialogue);
- per-rule and per-model contributions: how many escalations each source supported;
- screening latency p50/p95 per conversation;
- output screening on DiaSafety "Risk Ignorance" (test split): precision/recall on Unsafe of the
  rules, of a logistic regression trained on the train split, and of both;
- the sets of ``risk_sets`` (issue 19): the generated corpus's held-out messages and dialogues,
  the frozen hand-written set (only with ``frozen``: ``solace eval risk --frozen``), ESConv test
  seeker turns screened in their conversations, and the targets with MET / NOT MET.

Only counts and rates are printed; no text from any dataset.
"""

from __future__ import annotations

import ast
import csv
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import yaml

from services.common.config import Settings
from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.common.labels import RISK_LEVELS
from services.risk.model import RiskClassifierLike, RiskScreen, RiskVerdict, load_classifier
from services.risk.rules import level_index
from services.safety.output_screen import RiskIgnoranceModel, screen_output
from services.safety.policy import RiskPolicy, load_policy
from tools.evaluation import risk_sets
from tools.training.risk import CSSRS_TO_RISK  # the labels the model was trained with

PROBES_FILE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "risk_probes.yaml"
POSTS_PER_USER = 5
HIGH = level_index("HIGH")


def _conversation(seeker_turns: Sequence[str], max_chars: int) -> Conversation:
    turns: list[Turn] = []
    for i, text in enumerate(seeker_turns):
        if i:
            turns.append(Turn(SUPPORTER, "I hear you. Tell me more."))
        turns.append(Turn(SEEKER, text[:max_chars]))
    return Conversation(tuple(turns))


class _Tally:
    """Escalation contributions: every reason at HIGH or above in an escalated verdict."""

    def __init__(self) -> None:
        self.escalations = 0
        self.by_source: Counter[str] = Counter()
        self.sole: Counter[str] = Counter()

    def add(self, verdict: RiskVerdict) -> None:
        if level_index(verdict.level) < HIGH:
            return
        self.escalations += 1
        sources = {r.source for r in verdict.reasons if level_index(r.level) >= HIGH}
        self.by_source.update(sources)
        if len(sources) == 1:
            self.sole.update(sources)

    def lines(self) -> list[str]:
        out = [f"  escalations: {self.escalations}"]
        for source, n in self.by_source.most_common():
            out.append(f"    {source:28s} supported {n:5d}   sole cause {self.sole[source]:5d}")
        return out


def _confusion(gold: Sequence[int], pred: Sequence[int]) -> list[str]:
    matrix = np.zeros((len(RISK_LEVELS), len(RISK_LEVELS)), dtype=int)
    for g, p in zip(gold, pred, strict=True):
        matrix[g, p] += 1
    head = "  gold \\ pred " + "".join(f"{name:>10s}" for name in RISK_LEVELS)
    rows = [head]
    for i, name in enumerate(RISK_LEVELS):
        rows.append(f"  {name:12s}" + "".join(f"{v:10d}" for v in matrix[i]))
    return rows


def _rate(hits: int, total: int) -> str:
    return f"{hits / total:.3f} ({hits}/{total})" if total else "n/a (0)"


def evaluate_probes(screen: RiskScreen, tally: _Tally, path: Path = PROBES_FILE) -> list[str]:
    if not path.exists():
        return [f"  probe set not found at {path}"]
    probes = yaml.safe_load(path.read_text(encoding="utf-8"))
    crisis_hit = crisis_n = distress_false = distress_n = 0
    per_tag: Counter[str] = Counter()
    per_tag_ok: Counter[str] = Counter()
    failures: list[str] = []
    max_chars = screen._settings.max_text_chars
    for probe in probes:
        verdict = screen.screen(_conversation(probe["turns"], max_chars))
        tally.add(verdict)
        level = level_index(verdict.level)
        ok = level_index(probe["min"]) <= level <= level_index(probe["max"])
        ok = ok and verdict.third_party_concern == probe.get("third_party", False)
        tag = probe["tags"][0]
        per_tag[tag] += 1
        per_tag_ok[tag] += int(ok)
        if not ok:
            failures.append(f"{probe['id']}->{verdict.level}")
        if level_index(probe["min"]) >= HIGH:
            crisis_n += 1
            crisis_hit += int(level >= HIGH)
        if tag == "distress":
            distress_n += 1
            distress_false += int(level >= HIGH)
    out = [
        f"  crisis probes, recall of HIGH+IMMINENT:  {_rate(crisis_hit, crisis_n)}",
        f"  ordinary distress, false escalations:    {_rate(distress_false, distress_n)}",
        "  pass rate per category: "
        + ", ".join(f"{t} {per_tag_ok[t]}/{n}" for t, n in sorted(per_tag.items())),
    ]
    if failures:
        out.append("  failed probes: " + ", ".join(failures))
    return out


def _posts(cell: str) -> list[str]:
    """A user's posts: a Python-list literal, or (for the few rows whose literal is cut short)
    the same list split on its separators."""
    try:
        parsed = ast.literal_eval(cell)
    except (SyntaxError, ValueError):
        return [p.strip(" '\"") for p in cell.strip("[] ").split("', '")]
    return [str(p) for p in parsed]


def _read_cssrs(path: Path) -> list[tuple[int, list[str]]]:
    csv.field_size_limit(sys.maxsize)
    users = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            gold = level_index(CSSRS_TO_RISK[row["Label"].strip()])
            posts = [p.strip() for p in _posts(row["Post"]) if p.strip()]
            users.append((gold, posts[:POSTS_PER_USER]))
    return users


def evaluate_cssrs(
    screen: RiskScreen, tally: _Tally, data_dir: Path, measured: dict[str, float] | None = None
) -> list[str]:
    """User-level C-SSRS figures; ``measured["cssrs_recall"]`` gets the HIGH+ recall for the
    target summary."""
    path = data_dir / "cssrs_reddit_gaur2019" / "500_Reddit_users_posts_labels.csv"
    if not path.exists():
        return [f"  C-SSRS Reddit not found under {data_dir}"]
    gold, pred = [], []
    max_chars = screen._settings.max_text_chars
    for label, posts in _read_cssrs(path):
        levels = []
        for post in posts:
            verdict = screen.screen(_conversation([post], max_chars))
            tally.add(verdict)
            levels.append(level_index(verdict.level))
        gold.append(label)
        pred.append(max(levels, default=0))
    crisis = [p >= HIGH for g, p in zip(gold, pred, strict=True) if g >= HIGH]
    supportive = [p >= HIGH for g, p in zip(gold, pred, strict=True) if g == 0]
    exact = sum(g == p for g, p in zip(gold, pred, strict=True))
    if measured is not None and crisis:
        measured["cssrs_recall"] = sum(crisis) / len(crisis)
    return [
        f"  users: {len(gold)}, posts per user screened: up to {POSTS_PER_USER}",
        f"  recall of HIGH+IMMINENT (Behavior+Attempt users): {_rate(sum(crisis), len(crisis))}",
        f"  false escalation of Supportive users:              "
        f"{_rate(sum(supportive), len(supportive))}",
        f"  exact level agreement: {_rate(exact, len(gold))}",
        *_confusion(gold, pred),
    ]


def _read_esconv(path: Path) -> Iterable[list[str]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            dialog = json.loads(line)["dialog"]
            yield [turn["text"] for turn in dialog if turn["speaker"] == "usr"]


def evaluate_esconv(screen: RiskScreen, tally: _Tally, data_dir: Path) -> list[str]:
    path = data_dir / "esconv" / "test.txt"
    if not path.exists():
        return [f"  ESConv not found under {data_dir}"]
    max_chars = screen._settings.max_text_chars
    turn_n = turn_false = dialog_n = dialog_false = 0
    levels: Counter[str] = Counter()
    for seeker_turns in _read_esconv(path):
        for text in seeker_turns:
            verdict = screen.screen(_conversation([text], max_chars))
            levels[verdict.level] += 1
            turn_n += 1
            turn_false += int(level_index(verdict.level) >= HIGH)
        verdict = screen.screen(
            _conversation(seeker_turns[-screen.policy.model_window :], max_chars)
        )
        tally.add(verdict)
        dialog_n += 1
        dialog_false += int(level_index(verdict.level) >= HIGH)
    return [
        f"  seeker turns escalated (each alone):  {_rate(turn_false, turn_n)}",
        f"  dialogues escalated (last turns):     {_rate(dialog_false, dialog_n)}",
        "  turn levels: " + ", ".join(f"{k} {levels[k]}" for k in RISK_LEVELS),
        "  (ESConv seekers talk about ordinary distress; an escalated turn may still be a true"
        " disclosure, so this is an upper bound on false escalation)",
    ]


def measure_latency(screen: RiskScreen, repeats: int = 5) -> list[str]:
    """Cold latency: ``screen`` should be built without memos (``cold_screen``), so every
    repeat reads and encodes every seeker turn again; the in-order figure is the ESConv row's."""
    conversations = [
        _conversation(["work has been stressful", "I feel hopeless", "I don't want to live"], 4000),
        _conversation(["this exam is killing me"], 4000),
        _conversation(["My friend wants to end her life and I don't know what to do"], 4000),
        _conversation(["I lost my job and my girlfriend left me. " * 6], 4000),
    ]
    samples = []
    for _ in range(repeats):
        for conversation in conversations:
            started = time.perf_counter()
            screen.screen(conversation)
            samples.append((time.perf_counter() - started) * 1000.0)
    p50, p95 = np.percentile(samples, [50, 95])
    return [
        f"  screening latency per conversation, cold (no memo: every turn read and encoded "
        f"again): p50 {p50:.2f} ms, p95 {p95:.2f} ms"
    ]


def cold_screen(settings: Settings, policy: RiskPolicy, with_model: bool) -> RiskScreen:
    """A screen with no turn memo and a classifier with no embedding memo or sharing."""
    classifier = None
    if with_model:
        from services.risk.classifier import RiskClassifier

        classifier = RiskClassifier(settings, memo=False)
    return RiskScreen(settings, classifier, policy, memo=False)


def evaluate_output_screen(data_dir: Path, policy: RiskPolicy | None = None) -> list[str]:
    folder = data_dir / "diasafety"
    if not (folder / "train.json").exists():
        return [f"  DiaSafety not found under {data_dir}"]

    def rows(split: str) -> list[dict]:
        data = json.loads((folder / f"{split}.json").read_text(encoding="utf-8"))
        return [r for r in data if r["category"] == "Risk Ignorance"]

    train, test = rows("train"), rows("test")
    gold = [r["label"] == "Unsafe" for r in test]
    # The category means the context shows risk, so the screen is told at least LOW.
    policy = policy or RiskPolicy()
    screen = RiskScreen(Settings(), None, policy)
    rule_pred = []
    for r in test:
        conversation = Conversation((Turn(SEEKER, r["context"]),))
        level = RISK_LEVELS[max(level_index(screen.screen(conversation).level), 1)]
        rule_pred.append(not screen_output(conversation, r["response"], level, policy).ok)
    model = RiskIgnoranceModel.train(
        [(r["context"], r["response"], int(r["label"] == "Unsafe")) for r in train]
    )
    model_pred = [model.unsafe(r["context"], r["response"]) for r in test]
    both = [a or b for a, b in zip(rule_pred, model_pred, strict=True)]
    out = [f"  Risk Ignorance test rows: {len(test)} ({sum(gold)} Unsafe)"]
    for name, pred in (("rules", rule_pred), ("logreg", model_pred), ("rules OR logreg", both)):
        tp = sum(p and g for p, g in zip(pred, gold, strict=True))
        fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
        fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
        acc = sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        out.append(
            f"  {name:16s} precision {precision:.3f}  recall {recall:.3f}  accuracy {acc:.3f}"
        )
    return out


def named_screens(
    settings: Settings, classifier: RiskClassifierLike | None = None, use_model: bool = True
) -> tuple[RiskPolicy, list[tuple[str, RiskScreen]]]:
    """The operator's policy and the screens a report compares: rules only, then rules + the
    classifier (``classifier``, else the built ONNX one when ``use_model``) when there is one."""
    if classifier is None and use_model:
        classifier = load_classifier(settings)
    policy = load_policy(settings.safety_config or None)
    screens = [("rules only", RiskScreen(settings, None, policy))]
    if classifier is not None:
        screens.append(("rules + classifier", RiskScreen(settings, classifier, policy)))
    return policy, screens


def run(
    settings: Settings,
    classifier: RiskClassifierLike | None = None,
    use_model: bool = True,
    datasets: bool = True,
    frozen: bool = False,
) -> str:
    """The full report. ``classifier`` defaults to the built ONNX one when ``use_model``;
    ``frozen`` adds the frozen hand-written set (reported once, never tuned on)."""
    policy, screens = named_screens(settings, classifier, use_model)
    data_dir = Path(settings.data_dir)
    out = ["Risk screening evaluation", "========================="]
    if len(screens) == 1:
        out.append("classifier not available: rules only")
    for name, screen in screens:
        out.append(f"\n[{name}] model {screen.model_name} {screen.model_version}")
        tally = _Tally()
        measured: dict[str, float] = {}
        out.append("probe set (tests/fixtures/risk_probes.yaml):")
        out.extend(evaluate_probes(screen, tally))
        if datasets:
            out.append("C-SSRS Reddit (user level):")
            out.extend(evaluate_cssrs(screen, tally, data_dir, measured))
            out.append("ESConv test seekers (ordinary distress):")
            out.extend(evaluate_esconv(screen, tally, data_dir))
        out.append("contributions to escalations (reasons at HIGH or above):")
        out.extend(tally.lines())
        out.extend(measure_latency(cold_screen(settings, policy, screen.has_classifier)))
        lines, _ = risk_sets.evaluate(
            screen,
            data_dir if datasets else None,
            frozen=frozen,
            cssrs_recall=measured.get("cssrs_recall"),
        )
        out.extend(lines)
    if datasets:
        out.append("\nOutput screening, DiaSafety 'Risk Ignorance' (Unsafe is positive):")
        out.extend(evaluate_output_screen(data_dir, policy))
    return "\n".join(out)
