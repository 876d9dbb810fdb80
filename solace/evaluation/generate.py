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
  classifier reads it, is the requested one. The same classifier on the gold turns gives its
  own ceiling ("gold" row): it agrees with ESConv's annotators only that often.

The sample size is ``SOLACE_EVAL_GENERATE_SAMPLES`` (default 300, a few minutes on 2 cores).
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

from services.common.config import Settings
from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.common.labels import METHODS, STRATEGIES

DEFAULT_SAMPLES = 300
SAMPLES_ENV = "SOLACE_EVAL_GENERATE_SAMPLES"
SEED = 13
# The newest turns are what a reply answers; longer ESConv histories would also trip max_turns.
MAX_CONTEXT_TURNS = 20
PUBLISHED = {"MISC": (7.31, 17.91), "TransESC": (7.64, 17.51)}
_TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


@dataclass(frozen=True, slots=True)
class Example:
    conversation: Conversation
    strategy: int
    reference: str


def tokens(text: str) -> list[str]:
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
            for method in (m for m in METHODS if m != "AUTO"):
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


def _adherence(settings: Settings, texts: Sequence[str], wanted: Sequence[int]) -> float | None:
    try:
        from services.strategy.model import StrategyModel

        model = StrategyModel(settings)
    except Exception:  # weights or encoder missing: report adherence as unavailable
        return None
    predicted = model.utterance_probabilities(list(texts)).argmax(axis=1)
    return float(sum(int(p) == w for p, w in zip(predicted, wanted, strict=True)) / len(wanted))


def run(settings: Settings, samples: int | None = None) -> str:
    """The evaluation table as text."""
    samples = samples or int(os.environ.get(SAMPLES_ENV, DEFAULT_SAMPLES))
    path = Path(settings.data_dir) / "esconv" / "test.txt"
    if not path.is_file():
        return f"ESConv test split not found at {path}; nothing to evaluate."
    examples = load_examples(path, samples)
    started = time.perf_counter()
    generated = asyncio.run(_generate(settings, examples))
    references = [tokens(e.reference) for e in examples]
    wanted = [e.strategy for e in examples]

    header = (
        f"{'method':<20} {'engine':<9} {'BLEU-2':>7} {'ROUGE-L':>8} {'Dist-1':>7} {'Dist-2':>7} "
        f"{'adhere':>7} {'fell back':>9} {'ms/reply':>9}"
    )
    lines = [
        f"ESConv test ({path}), {len(examples)} supporter turns sampled with seed {SEED}; "
        "requested strategy = gold strategy",
        "",
        header,
        "-" * len(header),
    ]

    def row(name: str, engine: str, texts: Sequence[str], extra: str) -> str:
        hyps = [tokens(t) for t in texts]
        bleu = corpus_bleu(hyps, references) * 100
        rouge = sum(rouge_l(h, r) for h, r in zip(hyps, references, strict=True)) / len(hyps)
        adherence = _adherence(settings, texts, wanted)
        shown = "n/a" if adherence is None else f"{adherence * 100:.1f}%"
        return (
            f"{name:<20} {engine:<9} {bleu:>7.2f} {rouge * 100:>8.2f} "
            f"{distinct(hyps, 1) * 100:>7.2f} {distinct(hyps, 2) * 100:>7.2f} {shown:>7} {extra}"
        )

    for (method, engine), texts in generated["replies"].items():
        per_reply = generated["seconds"][(method, engine)] / len(examples) * 1000
        fell = generated["fallbacks"][(method, engine)]
        lines.append(row(method, engine, texts, f"{fell:>9} {per_reply:>9.1f}"))
    lines.append(
        row("gold (reference)", "-", [e.reference for e in examples], f"{'-':>9} {'-':>9}")
    )
    lines.append("")
    for name, (bleu, rouge) in PUBLISHED.items():
        lines.append(f"published {name:<10} BLEU-2 {bleu:.2f}  ROUGE-L {rouge:.2f} (full test set)")
    lines.append(
        "adherence = the strategy service's utterance classifier reads the requested strategy in "
        "the reply; the gold row is that classifier's agreement with ESConv's annotators."
    )
    lines.append(f"took {time.perf_counter() - started:.0f}s")
    return "\n".join(lines)
