"""``solace eval generate``: reply quality on the ESConv test split, per method and engine.

For a fixed random sample of supporter turns of ``<data_dir>/esconv/test.txt`` (those that
answer a seeker turn), the conversation up to that turn is the request and the turn's gold
strategy the requested strategy. Every method writes a reply on every engine configured here
(the composer always; ``vllm``/``openai`` when ``services.generator.engines`` finds them), and
the replies are scored against the gold turn:

- **BLEU-2**: corpus-level, uniform weights over 1- and 2-gram clipped precisions, with the
  brevity penalty (Papineni et al.), on lower-cased word/punctuation tokens; implemented here
  (no sacrebleu/nltk dependency), as the ESConv papers report it (×100);
- **ROUGE-L**: F1 (β = 1) of the longest common subsequence per reply, averaged (×100);
- **Dist-1/2**: distinct n-grams over all n-grams of all replies of a method (×100);
- **adherence**: the share of replies whose strategy, as the strategy service's utterance
  classifier reads it (``StrategyModel.classify_utterance``: one supporter turn, judged from
  its own words), is the requested one. The same classifier on the gold turns gives its own
  ceiling ("gold" row): it agrees with ESConv's annotators only that often. Below the table,
  each method's most frequent misreadings (requested → read) show what to fix.

- **screened**: the share of replies the platform's output screen
  (``services.safety.output_screen.screen_output``, at the level the rules screen the
  conversation at) lets through; **words**: the mean reply length in words.

The sample size is ``SOLACE_EVAL_GENERATE_SAMPLES`` (default 300, seconds on 2 cores), the
sample's seed ``SOLACE_EVAL_GENERATE_SEED`` (default 13), and ``SOLACE_EVAL_GENERATE_METHODS``
(comma-separated, default every method) limits the methods: an LLM engine takes seconds per
reply, MADP several engine calls.
Published ESConv figures (full test set, trained generators) are printed beside ours: MISC
BLEU-2 7.31 / ROUGE-L 17.91, TransESC 7.64 / 17.51.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from services.common.config import Settings
from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.common.errors import InvalidArgument
from services.common.labels import METHODS, STRATEGIES

if TYPE_CHECKING:
    from services.strategy.model import StrategyModel

DEFAULT_SAMPLES = 300
SAMPLES_ENV = "SOLACE_EVAL_GENERATE_SAMPLES"
SEED = 13
SEED_ENV = "SOLACE_EVAL_GENERATE_SEED"
METHODS_ENV = "SOLACE_EVAL_GENERATE_METHODS"
# The newest turns are what a reply answers; longer ESConv histories would also trip max_turns.
MAX_CONTEXT_TURNS = 20
PUBLISHED = {"MISC": (7.31, 17.91), "TransESC": (7.64, 17.51)}
_TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


@dataclass(frozen=True, slots=True)
class Example:
    """One supporter turn to reproduce: its context, gold strategy and gold text."""

    conversation: Conversation
    strategy: int
    reference: str


def tokens(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens, as BLEU and ROUGE compare them."""
    return _TOKEN.findall(text.lower())


def _ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def corpus_bleu(
    hypotheses: Sequence[list[str]], references: Sequence[list[str]], n: int = 2
) -> float:
    """Corpus BLEU-n (one reference per hypothesis), uniform weights, brevity penalty; 0..1."""
    matched = [0] * n
    total = [0] * n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        hyp_len += len(hyp)
        ref_len += len(ref)
        for k in range(1, n + 1):
            h, r = _ngrams(hyp, k), _ngrams(ref, k)
            matched[k - 1] += sum(min(c, r[g]) for g, c in h.items())
            total[k - 1] += max(len(hyp) - k + 1, 0)
    if hyp_len == 0 or any(m == 0 for m in matched):
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matched, total, strict=True)) / n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1.0 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(hypothesis: list[str], reference: list[str]) -> float:
    """ROUGE-L F1 (β = 1) of one pair; 0..1."""
    lcs = _lcs(hypothesis, reference)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hypothesis), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def distinct(hypotheses: Sequence[list[str]], n: int) -> float:
    """Distinct n-grams / all n-grams over the replies; 0..1."""
    grams = [tuple(h[i : i + n]) for h in hypotheses for i in range(len(h) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def load_examples(path: Path, samples: int, seed: int = SEED) -> list[Example]:
    """A reproducible sample of supporter turns that answer a seeker turn, with their context."""
    candidates: list[Example] = []
    by_name = {name: i for i, name in enumerate(STRATEGIES)}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            dialogue = json.loads(line)
            turns: list[Turn] = []
            for utterance in dialogue["dialog"]:
                text = " ".join(str(utterance["text"]).split())
                role = SUPPORTER if utterance["speaker"] == "sys" else SEEKER
                if role == SUPPORTER and turns and turns[-1].role == SEEKER and text:
                    context = tuple(turns[-MAX_CONTEXT_TURNS:])
                    while context and context[0].role != SEEKER:
                        context = context[1:]  # start where the seeker speaks
                    candidates.append(
                        Example(
                            Conversation(turns=context, situation=dialogue.get("situation", "")),
                            by_name[utterance["strategy"]],
                            text,
                        )
                    )
                if text:
                    turns.append(Turn(role, text))
    rng = random.Random(seed)
    return rng.sample(candidates, min(samples, len(candidates)))


def _engines(settings: Settings) -> dict[str, object]:
    """The LLM engines the settings configure (``engines.configured_engines``), if any."""
    try:
        from services.generator.engines import configured_engines
    except ImportError:
        return {}
    return dict(configured_engines(settings))


async def _generate(settings: Settings, examples: Sequence[Example]) -> dict:
    from services.generator.model import GenerationOptions, GenerationRequest, GeneratorCore

    core = GeneratorCore(settings, _engines(settings))
    replies: dict[tuple[str, str], list[str]] = {}
    fallbacks: Counter[tuple[str, str]] = Counter()
    seconds: dict[tuple[str, str], float] = {}
    try:
        for engine in core.engines:
            for method in _methods():
                key = (method, engine)
                started = time.perf_counter()
                out = []
                for example in examples:
                    result = await core.generate(
                        GenerationRequest(
                            conversation=example.conversation,
                            strategy=example.strategy,
                            method=method,
                            options=GenerationOptions(engine=engine),
                        )
                    )
                    fallbacks[key] += result.fell_back
                    out.append(result.text)
                replies[key] = out
                seconds[key] = time.perf_counter() - started
    finally:
        await core.close()
    return {"replies": replies, "fallbacks": fallbacks, "seconds": seconds}


def _methods() -> list[str]:
    """The methods evaluated: ``SOLACE_EVAL_GENERATE_METHODS`` or all of them but AUTO."""
    every = [m for m in METHODS if m != "AUTO"]
    chosen = [m.strip().upper() for m in os.environ.get(METHODS_ENV, "").split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(every))
    if unknown:
        raise InvalidArgument(METHODS_ENV, f"unknown method(s) {unknown}; choose from {every}")
    return chosen or every


def _screened(texts: Sequence[str], examples: Sequence[Example]) -> float:
    """The share of replies the output screen passes, each at its conversation's rules level."""
    from services.risk.model import RiskScreen
    from services.safety.output_screen import screen_output
    from services.safety.policy import RiskPolicy

    policy = RiskPolicy()
    risk = RiskScreen(Settings(), None, policy)
    passed = 0
    for text, example in zip(texts, examples, strict=True):
        level = risk.screen(example.conversation).level
        passed += screen_output(example.conversation, text, level, policy).ok
    return passed / len(texts)


class _Adherence:
    """Reads replies with the strategy service's utterance classifier; ``None`` readings when
    its weights or the encoder are missing (adherence is then reported as unavailable)."""

    def __init__(self, settings: Settings) -> None:
        try:
            from services.strategy.model import StrategyModel

            self.model: StrategyModel | None = StrategyModel(settings)
        except Exception:  # weights or encoder missing: report adherence as unavailable
            self.model = None

    def read(self, texts: Sequence[str]) -> list[int] | None:
        """The strategy index the classifier reads in each text."""
        if self.model is None:
            return None
        return [self.model.classify_utterance(text).index for text in texts]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a method on an engine (or the gold turns), scored on the sample.

    ``adherence`` is ``None`` when the classifier is unavailable; ``misread`` counts the
    (requested, read) strategy pairs the classifier disagreed on.
    """

    name: str
    engine: str
    bleu: float
    rouge: float
    dist1: float
    dist2: float
    adherence: float | None
    misread: Counter[tuple[int, int]]
    fell_back: int | None = None
    ms_per_reply: float | None = None
    screened: float | None = None
    words: float | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """The scored sample: where it came from and one row per (method, engine), gold last."""

    path: Path
    seed: int
    samples: int
    rows: list[Row]
    seconds: float

    def row(self, name: str, engine: str = "composer") -> Row:
        return next(r for r in self.rows if r.name == name and r.engine == engine)


def _score(
    name: str,
    engine: str,
    texts: Sequence[str],
    examples: Sequence[Example],
    adherence: _Adherence,
    fell_back: int | None = None,
    ms_per_reply: float | None = None,
) -> Row:
    references = [tokens(e.reference) for e in examples]
    hyps = [tokens(t) for t in texts]
    read = adherence.read(texts)
    misread: Counter[tuple[int, int]] = Counter()
    share = None
    if read is not None:
        wanted = [e.strategy for e in examples]
        misread.update((w, r) for w, r in zip(wanted, read, strict=True) if w != r)
        share = 1.0 - sum(misread.values()) / len(wanted)
    return Row(
        name=name,
        engine=engine,
        bleu=corpus_bleu(hyps, references) * 100,
        rouge=sum(rouge_l(h, r) for h, r in zip(hyps, references, strict=True)) / len(hyps) * 100,
        dist1=distinct(hyps, 1) * 100,
        dist2=distinct(hyps, 2) * 100,
        adherence=share,
        misread=misread,
        fell_back=fell_back,
        ms_per_reply=ms_per_reply,
        screened=_screened(texts, examples),
        words=sum(len(t.split()) for t in texts) / len(texts),
    )


def evaluate(settings: Settings, samples: int | None = None, seed: int | None = None) -> Report:
    """Generate and score replies on the sample; ``FileNotFoundError`` without the test split."""
    samples = samples or int(os.environ.get(SAMPLES_ENV, DEFAULT_SAMPLES))
    seed = seed if seed is not None else int(os.environ.get(SEED_ENV, SEED))
    path = Path(settings.data_dir) / "esconv" / "test.txt"
    if not path.is_file():
        raise FileNotFoundError(path)
    examples = load_examples(path, samples, seed)
    started = time.perf_counter()
    generated = asyncio.run(_generate(settings, examples))
    adherence = _Adherence(settings)
    rows = []
    for (method, engine), texts in generated["replies"].items():
        per_reply = generated["seconds"][(method, engine)] / len(examples) * 1000
        fell = generated["fallbacks"][(method, engine)]
        rows.append(_score(method, engine, texts, examples, adherence, fell, per_reply))
    gold = [e.reference for e in examples]
    rows.append(_score("gold (reference)", "-", gold, examples, adherence))
    return Report(path, seed, len(examples), rows, time.perf_counter() - started)


# Strategy names short enough for one line of misreadings per method.
_SHORT = (
    "Question",
    "Restatement",
    "Reflection",
    "Self-disclosure",
    "Affirmation",
    "Suggestions",
    "Information",
    "Others",
)
assert len(_SHORT) == len(STRATEGIES)


def _short(strategy: int) -> str:
    return _SHORT[strategy]


def run(settings: Settings, samples: int | None = None, seed: int | None = None) -> str:
    """The evaluation table as text."""
    try:
        report = evaluate(settings, samples, seed)
    except FileNotFoundError as missing:
        return f"ESConv test split not found at {missing}; nothing to evaluate."
    header = (
        f"{'method':<20} {'engine':<9} {'BLEU-2':>7} {'ROUGE-L':>8} {'Dist-1':>7} {'Dist-2':>7} "
        f"{'adhere':>7} {'screened':>8} {'words':>6} {'fell back':>9} {'ms/reply':>9}"
    )
    lines = [
        f"ESConv test ({report.path}), {report.samples} supporter turns sampled with seed "
        f"{report.seed}; requested strategy = gold strategy",
        "",
        header,
        "-" * len(header),
    ]
    for r in report.rows:
        shown = "n/a" if r.adherence is None else f"{r.adherence * 100:.1f}%"
        fell = "-" if r.fell_back is None else str(r.fell_back)
        ms = "-" if r.ms_per_reply is None else f"{r.ms_per_reply:.1f}"
        screened = "-" if r.screened is None else f"{r.screened * 100:.1f}%"
        words = "-" if r.words is None else f"{r.words:.1f}"
        lines.append(
            f"{r.name:<20} {r.engine:<9} {r.bleu:>7.2f} {r.rouge:>8.2f} {r.dist1:>7.2f} "
            f"{r.dist2:>7.2f} {shown:>7} {screened:>8} {words:>6} {fell:>9} {ms:>9}"
        )
    lines.append("")
    for name, (bleu, rouge) in PUBLISHED.items():
        lines.append(f"published {name:<10} BLEU-2 {bleu:.2f}  ROUGE-L {rouge:.2f} (full test set)")
    lines.append(
        "adherence = the strategy service's utterance classifier reads the requested strategy in "
        "the reply; the gold row is that classifier's agreement with ESConv's annotators."
    )
    lines.append("most frequent misreadings (requested → read):")
    for r in report.rows:
        if r.misread:
            top = ", ".join(
                f"{_short(w)}→{_short(g)} {n}" for (w, g), n in r.misread.most_common(4)
            )
            lines.append(f"  {r.name:<20} {r.engine:<9} {top}")
    lines.append(f"took {report.seconds:.0f}s")
    return "\n".join(lines)
