"""``solace eval classifiers``: every classifier on its held-out test set, in one table.

Scores the committed heads exactly as the services call them (``StrategyModel``,
``DefenseModel``, ``RiskClassifier``), with the training embedding cache in place of the
encoder so scoring takes seconds instead of re-encoding every test text; then measures p50
latency per request with the real encoder (batch 1, after warm-up) on ESConv test requests:

- "stream": the requests of each dialogue in order through one served model, as in
  production (the model's memo keeps the earlier turns' embeddings, so mostly only the newest
  turns are encoded);
- "cold": every request as a conversation's first (each text of the features encoded once).

- strategy: ESConv test split (codes_zcj seed 13), next supporter strategy: accuracy,
  macro-F1, weighted-F1, with the earlier supporter turns' strategies given (as the published
  numbers do) and guessed (requests that carry none); and the utterance classifier on every
  test supporter turn;
- defense: PsyDefConv official test set (``test_label.json``, 472 rows): macro-F1, per-class F1;
- risk: the held-out C-SSRS test users (the training split): accuracy, macro-F1 and expected
  calibration error (top label, and P(HIGH or above), which the safety policy thresholds).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.domain import Conversation
from services.common.encoder import get_encoder
from services.common.features import MemoEmbed

LATENCY_REQUESTS = 200
WARMUP_REQUESTS = 10


def latency_requests(settings: Settings) -> tuple[list[Conversation], list[Conversation]]:
    """(warm-up, timed) requests: ESConv test dialogue prefixes that end before a supporter
    turn, in order (what a partner app sends as a conversation goes on). The warm-up ones come
    from the file's last dialogue, which the timed ones never reach, so a memo does not see
    the timed requests early."""
    from tools.training.strategy import load_esconv

    convs, _ = load_esconv(Path(settings.data_dir) / "esconv" / "test.txt")
    return convs[-WARMUP_REQUESTS:], convs[:LATENCY_REQUESTS]


class _FirstRequest:
    """An ``embed`` whose memo is emptied before every timed request: the cost of a
    conversation's first request (each text encoded once, nothing remembered)."""

    def __init__(self, settings: Settings) -> None:
        self._encoder = get_encoder(settings)
        self._memo = MemoEmbed(self._encoder.embed)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self._memo(texts)

    def timed(self, fn: Callable[[object], object]) -> Callable[[object], object]:
        def call(item: object) -> object:
            self._memo = MemoEmbed(self._encoder.embed)
            return fn(item)

        return call


def _p50_ms(
    fn: Callable[[object], object], items: Sequence[object], warmup: Sequence[object]
) -> float:
    """Median ms per call over ``items``, after one call per ``warmup`` item."""
    for item in warmup:
        fn(item)
    samples = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _scores(y: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict:
    from tools.training.common import classification_metrics

    return classification_metrics(y, probs, labels)


def _strategy(settings: Settings, embed: Callable) -> tuple[list[str], dict]:
    from services.common.labels import STRATEGIES
    from services.strategy.model import StrategyModel
    from tools.training.strategy import load_esconv, load_utterances, without_strategies

    root = Path(settings.data_dir) / "esconv"
    convs, y = load_esconv(root / "test.txt")
    model = StrategyModel(settings, embed=embed)
    probs = np.asarray([s.probabilities for s in model.predict_batch(convs)])
    next_turn = _scores(y, probs, STRATEGIES)
    unlabelled = without_strategies(convs)
    guessed_probs = np.asarray([s.probabilities for s in model.predict_batch(unlabelled)])
    guessed = _scores(y, guessed_probs, STRATEGIES)
    texts, y_utt, _ = load_utterances(root / "test.txt")
    utterance = _scores(y_utt, model.utterance_probabilities(texts), STRATEGIES)

    warm, requests = latency_requests(settings)
    stream = _p50_ms(StrategyModel(settings).predict, requests, warm)
    first = _FirstRequest(settings)
    cold_model = StrategyModel(settings, embed=first)
    cold = _p50_ms(first.timed(cold_model.predict), requests, warm)
    cold_guessed = _p50_ms(
        first.timed(cold_model.predict), without_strategies(requests), without_strategies(warm)
    )
    utt_p50 = _p50_ms(
        first.timed(cold_model.classify_utterance),
        texts[:LATENCY_REQUESTS],
        texts[-WARMUP_REQUESTS:],
    )
    lines = [
        f"strategy (next turn)  {model.version}  n={next_turn['n']}  "
        f"accuracy {next_turn['accuracy']:.4f}  macro-F1 {next_turn['macro_f1']:.4f}  "
        f"weighted-F1 {next_turn['weighted_f1']:.4f}  "
        f"p50 {stream:.2f} ms (stream), {cold:.2f} ms (cold)",
        f"  history guessed (turns carry no strategy): accuracy {guessed['accuracy']:.4f}  "
        f"macro-F1 {guessed['macro_f1']:.4f}  weighted-F1 {guessed['weighted_f1']:.4f}  "
        f"p50 {cold_guessed:.2f} ms (cold)",
        f"strategy (utterance)  {model.utterance_version}  n={utterance['n']}  "
        f"accuracy {utterance['accuracy']:.4f}  macro-F1 {utterance['macro_f1']:.4f}  "
        f"weighted-F1 {utterance['weighted_f1']:.4f}  p50 {utt_p50:.2f} ms",
        "  next-turn per-class F1: "
        + ", ".join(f"{k} {v:.2f}" for k, v in next_turn["per_class_f1"].items()),
    ]
    return lines, {
        "strategy": next_turn,
        "strategy_history_guessed": guessed,
        "utterance": utterance,
    }


def _defense(settings: Settings, embed: Callable) -> tuple[list[str], dict]:
    from services.common.labels import DEFENSE_LEVELS
    from services.defense.model import DefenseModel
    from tools.training.defense import load_test

    convs, y = load_test(Path(settings.data_dir) / "psydefconv" / "test_label.json")
    model = DefenseModel(settings, embed=embed)
    probs = np.asarray([s.probabilities for s in model.predict_batch(convs, evidence=False)])
    scores = _scores(y, probs, DEFENSE_LEVELS)
    warm, requests = latency_requests(settings)
    stream = _p50_ms(DefenseModel(settings).classify, requests, warm)
    first = _FirstRequest(settings)
    cold_model = DefenseModel(settings, embed=first)
    level = first.timed(lambda c: cold_model.predict_batch([c], evidence=False))
    cold = _p50_ms(level, requests, warm)
    cold_evidence = _p50_ms(first.timed(cold_model.classify), requests, warm)
    counts = np.bincount(probs.argmax(1), minlength=len(DEFENSE_LEVELS))
    lines = [
        f"defense               {model.version}  n={scores['n']}  "
        f"accuracy {scores['accuracy']:.4f}  macro-F1 {scores['macro_f1']:.4f}  "
        f"weighted-F1 {scores['weighted_f1']:.4f}  "
        f"p50 {stream:.2f} ms (stream, with evidence), {cold:.2f} ms (cold, level only), "
        f"{cold_evidence:.2f} ms (cold, with evidence)",
        "  per-class F1 (predicted / true count): "
        + ", ".join(
            f"{k} {v:.2f} ({counts[i]}/{int((y == i).sum())})"
            for i, (k, v) in enumerate(scores["per_class_f1"].items())
        ),
    ]
    return lines, {"defense": scores}


def _risk(settings: Settings, embed: Callable) -> tuple[list[str], dict]:
    from services.common.labels import RISK_LEVELS
    from services.risk.classifier import RiskClassifier
    from tools.training.risk import calibration_report, load_cssrs, split_posts

    posts, y_posts, users, user_labels = load_cssrs(
        Path(settings.data_dir) / "cssrs_reddit_gaur2019" / "500_Reddit_users_posts_labels.csv"
    )
    _, _, test = split_posts(users, user_labels)
    texts = [p for p, keep in zip(posts, test, strict=True) if keep]
    y = y_posts[test]
    # The risk classifier runs its own fine-tuned encoder: the shared-encoder cache does not
    # apply (the C-SSRS test posts are encoded once here, without a memo).
    del embed
    model = RiskClassifier(settings, memo=False)
    probs = model.probabilities(texts)
    scores = _scores(y, probs, RISK_LEVELS)
    calibration = calibration_report(probs, y)
    served = RiskClassifier(settings)
    # Latency on chat-sized turns (the screen scores seeker turns, not long Reddit posts).
    warm, requests = latency_requests(settings)
    turns = [[c.last_seeker_text] for c in requests]
    p50 = _p50_ms(served.probabilities, turns, [[c.last_seeker_text] for c in warm])
    high = calibration["ece_p_high_or_above"]
    lines = [
        f"risk                  {model.version}  n={scores['n']} posts  "
        f"accuracy {scores['accuracy']:.4f}  macro-F1 {scores['macro_f1']:.4f}  "
        f"ECE {calibration['ece_top_label']:.4f} (top label), {high:.4f} (P(HIGH+))  "
        f"p50 {p50:.2f} ms",
        "  reliability (top label; bin: n, predicted -> observed): "
        + ", ".join(
            f"{r['bin']}: {r['n']}, {r['predicted']:.2f}->{r['observed']:.2f}"
            for r in calibration["reliability_top_label"]
        ),
    ]
    return lines, {"risk": {**scores, **calibration}}


def run(settings: Settings) -> str:
    """Score every classifier, measure its latency, and return the printed table."""
    from solace_cli.modelbuild import build_models
    from tools.training.cache import CachedEmbedder

    started = time.perf_counter()
    # Each classifier's latency is its own encoder work: no embeddings read from the machine's
    # shared file (another classifier, or a platform running beside, may have written them).
    settings = settings.with_overrides(shared_embeddings_dir="")
    build_models(settings)
    embed = CachedEmbedder(settings)
    lines = [
        "classifier            version  test set  scores  latency per request "
        f"(batch 1, {settings.onnx_threads} ONNX thread(s), after warm-up)"
    ]
    for part in (_strategy, _defense, _risk):
        part_lines, _ = part(settings, embed)
        lines += part_lines
    embed.save()
    lines.append(f"(evaluated in {time.perf_counter() - started:.0f} s)")
    return "\n".join(lines)
