"""``solace eval risk --dev``: the side a change to the risk screen is judged on.

The frozen hand-written set (``risk_sets``) is reported once, at the end of a round of work;
everything decided before that (a rule, a threshold, which of two models to keep) is decided
here, on what the trainer kept out of fitting:

- the held-back rows of every hand-written training file (every fifth message and
  conversation, ``tools.training.risk.held_back_entries``), screened whole through the screen
  a partner app gets, per file;
- ESConv valid seeker turns, each screened in its conversation so far (the thresholds'
  percentiles come from its turns one by one, not in context).

Only counts and rates are printed; missed rows are named ``file:index``, never by their text.
"""

from __future__ import annotations

from pathlib import Path

from services.common.config import Settings
from services.risk.model import RiskClassifierLike, RiskScreen
from tools.evaluation import risk_sets
from tools.evaluation.risk import named_screens
from tools.training import risk as risk_training
from tools.training.risk_corpus import expect_for


def dev_items(max_chars: int) -> tuple[list[risk_sets.Item], list[risk_sets.Item]]:
    """(messages, conversations) held back from fitting, each grouped by its file."""
    messages = [
        risk_sets.Item(
            f"{name}:{i}",
            (name,),
            expect_for(level),
            risk_sets._seeker_only(str(row["text"]), max_chars),
        )
        for name, i, row, level in risk_training.held_back_entries("messages")
    ]
    conversations = [
        risk_sets.Item(
            f"{name}:{i}",
            (name,),
            expect_for(level),
            risk_sets._turns(row["turns"], max_chars),
        )
        for name, i, row, level in risk_training.held_back_entries("conversations")
    ]
    return messages, conversations


def evaluate(screen: RiskScreen, data_dir: Path | None, show_missed: bool = False) -> list[str]:
    max_chars = risk_sets._max_chars(screen)
    messages, conversations = dev_items(max_chars)
    out: list[str] = []
    for kind, items in (("messages", messages), ("conversations", conversations)):
        risk_sets._section(
            out,
            f"held-back hand-written {kind} (never fitted)",
            lambda items=items, kind=kind: risk_sets.score(screen, kind, items),
            show_missed,
        )
    path = None if data_dir is None else data_dir / "esconv" / "valid.txt"
    if path is None or not path.exists():
        out.append(f"ESConv valid seeker turns in context: not found under {data_dir}")
        return out
    result = risk_sets.screen_esconv(screen, path, max_chars)
    out.append(
        "ESConv valid seeker turns, each screened in its conversation so far: escalated (HIGH+) "
        f"{result.escalated}/{result.turns} ({result.rate:.4f}); "
        "levels " + ", ".join(f"{k} {v}" for k, v in result.levels.items())
    )
    return out


def run(
    settings: Settings,
    classifier: RiskClassifierLike | None = None,
    use_model: bool = True,
    show_missed: bool = False,
) -> str:
    """The dev report for rules only and, when built, rules + classifier."""
    _, screens = named_screens(settings, classifier, use_model)
    data_dir = Path(settings.data_dir)
    out = ["Risk screen, dev side (held back from fitting; tune here, not on the frozen set)"]
    for name, screen in screens:
        out.append(f"\n[{name}] model {screen.model_name} {screen.model_version}")
        out.extend(evaluate(screen, data_dir, show_missed))
    return "\n".join(out)
