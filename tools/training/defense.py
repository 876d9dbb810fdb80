"""Trains the defense-level head on PsyDefConv (DMRS levels 0-8 of a seeker turn in context).

Train: the 373 labelled rows of ``train_subset373_flat.csv`` (flattened "seeker: ... supporter:
..." transcripts; the target is the final seeker segment). The model (shrinkage LDA, logistic
regression, a linear SVM or a sum of two; which feature blocks; C) and the softmax temperature
are chosen by repeated stratified 5-fold cross-validation on those rows only; the 472 rows of
``test_label.json`` are scored once, for the chosen model.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.domain import SEEKER, SUPPORTER, Conversation, Turn
from services.common.heads import ClassifierHead
from services.common.labels import DEFENSE_LEVELS
from services.defense.features import DEFENSE_BLOCKS, DEFENSE_FEATURES, defense_features
from tools.training.cache import CachedEmbedder
from tools.training.common import classification_metrics, weights_dir, write_metrics
from tools.training.onnx_head import fold_scaler, write_head

HEAD_NAME = "solace-defense"
# A member is (kind, feature blocks, C or shrinkage); a candidate is one member or the sum of
# several (each member's logits scaled to unit spread on its fit rows, so neither dominates).
# Every candidate is linear in the features, so it exports as one Gemm. "lda" is LDA with a
# uniform prior and Ledoit-Wolf shrinkage; "svm" is a linear SVM (one-vs-rest hinge loss);
# "logreg" a multinomial logistic regression; both of the last two with balanced class weights.
Member = tuple[str, tuple[str, ...], float]
_ALL = ("target", "numeric", "cues")
CANDIDATES: tuple[tuple[Member, ...], ...] = (
    (("lda", ("target",), 0.0),),
    (("lda", _ALL, 0.0),),
    *((("logreg", _ALL, c),) for c in (0.003, 0.01, 0.03)),
    *((("svm", _ALL, c),) for c in (0.001, 0.003)),
    (("lda", ("target",), 0.0), ("logreg", _ALL, 0.01)),
    (("lda", ("target",), 0.0), ("svm", _ALL, 0.001)),
)
CV_REPEATS = (0, 1, 2)
# Softmax temperatures tried on the chosen candidate's out-of-fold logits (log-loss), so the
# served probabilities are calibrated; the temperature does not change the predicted level.
TEMPERATURES = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0)

# Behaviour cases a chosen head must read right (minimum-functionality checks, as CheckList
# calls them). The top candidates' CV means differ by less than a tenth of their spread, so
# the ranking among them is noise; the first candidate in CV order that passes is taken. Plain
# cases only, none from PsyDefConv: the test set is never consulted.
BEHAVIOUR_CASES: tuple[tuple[Conversation, frozenset[str]], ...] = (
    (Conversation(turns=(Turn(SEEKER, "Hi"),)), frozenset({"No Defense"})),
    (
        Conversation(
            turns=(
                Turn(SEEKER, "My dad passed away last month."),
                Turn(SUPPORTER, "I'm so sorry. How have you been coping?"),
                Turn(
                    SEEKER,
                    "It's fine, it's not a big deal, everyone has problems. "
                    "But honestly I just keep busy so I don't have to think about it.",
                ),
            )
        ),
        # Minimising and keeping busy: one of the defensive levels, Action .. Obsessional.
        frozenset(DEFENSE_LEVELS[1:7]),
    ),
)
_SPEAKER = re.compile(r"(?:^|\s)(seeker|supporter):\s")


def parse_flat(text: str) -> Conversation:
    """'supporter: Hello seeker: Hi ...' -> turns (the last seeker segment is the target)."""
    marks = list(_SPEAKER.finditer(text))
    turns = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        turns.append(Turn(role=mark.group(1), text=text[mark.end() : end].strip()))
    # The target is the final seeker segment: anything after it is not part of the input.
    while turns and turns[-1].role != SEEKER:
        turns.pop()
    return Conversation(turns=tuple(turns))


def load_train(path: Path) -> tuple[list[Conversation], np.ndarray]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [parse_flat(r["text"]) for r in rows], np.asarray([int(r["true_label"]) for r in rows])


def load_test(path: Path) -> tuple[list[Conversation], np.ndarray]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    convs = []
    for row in rows:
        turns = [
            Turn(role=SEEKER if t["speaker"] == "seeker" else SUPPORTER, text=t["text"].strip())
            for t in row["dialogue"]
        ]
        convs.append(Conversation(turns=tuple(turns)))
    return convs, np.asarray([int(r["label"]) for r in rows])


def _columns(blocks: tuple[str, ...]) -> np.ndarray:
    return np.concatenate([np.arange(*DEFENSE_BLOCKS[b]) for b in blocks])


def fit_member(member: Member, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit one member on its blocks' columns of ``x``; return (W [D, 9], b [9]) over every
    column and level, so x @ W + b are its logits (columns outside its blocks and levels absent
    from ``y`` get zero weight / -30 bias)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    kind, blocks, c = member
    cols = _columns(blocks)
    classes = np.unique(y)
    if kind in ("logreg", "svm"):
        scaler = StandardScaler().fit(x[:, cols])
        if kind == "logreg":
            model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=0)
        else:
            model = LinearSVC(C=c, class_weight="balanced", random_state=0)
        model.fit(scaler.transform(x[:, cols]), y)
        w_sub, b_sub = fold_scaler(model.coef_.T, model.intercept_, scaler.mean_, scaler.scale_)
    else:
        prior = np.full(len(classes), 1.0 / len(classes))
        model = LinearDiscriminantAnalysis(
            solver="lsqr", shrinkage=c if c > 0 else "auto", priors=prior
        )
        model.fit(x[:, cols], y)
        w_sub, b_sub = model.coef_.T, model.intercept_
    weight = np.zeros((x.shape[1], len(DEFENSE_LEVELS)))
    bias = np.full(len(DEFENSE_LEVELS), -30.0)
    weight[np.ix_(cols, classes)] = w_sub
    bias[classes] = b_sub
    return weight, bias


def fit_linear(
    candidate: tuple[Member, ...], x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One candidate as one dense layer (W [D, 9], b [9]): the sum of its members' logits,
    each divided by the standard deviation of its logits on the fit rows."""
    classes = np.unique(y)
    weight = np.zeros((x.shape[1], len(DEFENSE_LEVELS)))
    bias = np.zeros(len(DEFENSE_LEVELS))
    for member in candidate:
        w, b = fit_member(member, x, y)
        spread = float(np.std((x @ w + b)[:, classes])) if len(candidate) > 1 else 1.0
        weight += w / spread
        bias += b / spread
    absent = np.setdiff1d(np.arange(len(DEFENSE_LEVELS)), classes)
    weight[:, absent] = 0.0
    bias[absent] = -30.0
    return weight, bias


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def linear_probs(layer: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    return softmax(x @ layer[0] + layer[1])


def _describe_member(member: Member) -> str:
    kind, blocks, c = member
    if kind == "lda":
        model = "shrinkage LDA" if c == 0 else f"LDA shrinkage={c}"
    else:
        model = f"{kind} C={c}"
    return f"{model} on {'+'.join(blocks)}"


def describe(candidate: tuple[Member, ...]) -> str:
    return " + ".join(_describe_member(m) for m in candidate)


def passes_behaviour(
    candidate: tuple[Member, ...], x: np.ndarray, y: np.ndarray, cases: np.ndarray
) -> bool:
    """Whether ``candidate``, fitted on all train rows, reads every BEHAVIOUR_CASES row (the
    features ``cases``) as one of its expected levels."""
    weight, bias = fit_linear(candidate, x, y)
    predicted = (cases @ weight + bias).argmax(1)
    return all(
        DEFENSE_LEVELS[int(p)] in expected
        for p, (_, expected) in zip(predicted, BEHAVIOUR_CASES, strict=True)
    )


def select_model(
    x: np.ndarray, y: np.ndarray, verbose: bool = True, cases: np.ndarray | None = None
) -> dict:
    """Repeated stratified 5-fold CV macro-F1 of every candidate on the train rows only.

    Returns the grid (mean and standard deviation over repeats), the chosen candidate (the
    best mean among those that pass the behaviour cases, when their features ``cases`` are
    given) and its softmax temperature (the one with the lowest out-of-fold log-loss).
    """
    from sklearn.metrics import f1_score, log_loss
    from sklearn.model_selection import StratifiedKFold

    grid: dict[str, dict[str, float]] = {}
    oof: dict[str, list[np.ndarray]] = {}
    for candidate in CANDIDATES:
        scores, logits = [], []
        for seed in CV_REPEATS:
            z = np.zeros((len(y), len(DEFENSE_LEVELS)))
            folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
            for fit_idx, val_idx in folds.split(x, y):
                w, b = fit_linear(candidate, x[fit_idx], y[fit_idx])
                z[val_idx] = x[val_idx] @ w + b
            scores.append(f1_score(y, z.argmax(1), average="macro"))
            logits.append(z)
        name = describe(candidate)
        grid[name] = {
            "mean": round(float(np.mean(scores)), 4),
            "sd": round(float(np.std(scores)), 4),
        }
        oof[name] = logits
        if verbose:
            print(
                f"  defense {name}: CV macro-F1 {grid[name]['mean']:.4f} ± {grid[name]['sd']:.4f}"
            )
    ranked = sorted(CANDIDATES, key=lambda cand: -grid[describe(cand)]["mean"])
    chosen, failed = ranked[0], []
    if cases is not None:
        for candidate in ranked:
            if passes_behaviour(candidate, x, y, cases):
                chosen = candidate
                break
            failed.append(describe(candidate))
        else:  # none passes: keep the CV ranking, and say so
            chosen, failed = ranked[0], [describe(c) for c in ranked]
        if verbose and failed:
            print(f"  defense: failed the behaviour cases, skipped: {failed}")
    logits = np.concatenate(oof[describe(chosen)])
    labels = np.tile(y, len(CV_REPEATS))
    levels = list(range(len(DEFENSE_LEVELS)))
    losses = {t: log_loss(labels, softmax(logits / t), labels=levels) for t in TEMPERATURES}
    temperature = min(losses, key=losses.__getitem__)
    per_class = np.mean(
        [f1_score(y, z.argmax(1), labels=levels, average=None) for z in oof[describe(chosen)]],
        axis=0,
    )
    return {
        "grid": grid,
        "failed_behaviour_cases": failed if cases is not None else None,
        "chosen": chosen,
        "temperature": temperature,
        "per_class_cv_f1": {
            k: round(float(v), 4) for k, v in zip(DEFENSE_LEVELS, per_class, strict=True)
        },
    }


def train_defense(settings: Settings) -> dict:
    from sklearn.metrics import f1_score

    started = time.perf_counter()
    root = Path(settings.data_dir) / "psydefconv"
    embed = CachedEmbedder(settings)
    convs_tr, y_tr = load_train(root / "train_subset373_flat.csv")
    convs_te, y_te = load_test(root / "test_label.json")
    x_tr = defense_features(convs_tr, embed)
    x_te = defense_features(convs_te, embed)
    cases = defense_features([conv for conv, _ in BEHAVIOUR_CASES], embed)
    embed.save()

    # Choice by repeated stratified 5-fold CV macro-F1 on the train rows only, among the
    # candidates that read the behaviour cases right.
    selection = select_model(x_tr, y_tr, cases=cases)
    chosen, temperature = selection["chosen"], selection["temperature"]
    weight, bias = fit_linear(chosen, x_tr, y_tr)
    layer = (weight / temperature, bias / temperature)
    head = weights_dir("defense") / "head.onnx"
    write_head(head, [layer], DEFENSE_LEVELS, HEAD_NAME, DEFENSE_FEATURES)
    served = ClassifierHead(head)
    # The test set is scored once, for the chosen candidate only.
    test_probs = served.probabilities(x_te)
    majority = np.full_like(y_te, np.bincount(y_tr).argmax())
    metrics = {
        "data": "PsyDefConv: train_subset373_flat.csv (train), test_label.json (test, 472 rows)",
        "model": describe(chosen),
        "temperature": temperature,
        "samples": {"train": len(y_tr), "test": len(y_te)},
        "selection": {
            "criterion": f"stratified 5-fold CV macro-F1 on train, mean ± sd of "
            f"{len(CV_REPEATS)} repeats, best among the candidates that pass "
            f"{len(BEHAVIOUR_CASES)} behaviour cases; temperature by out-of-fold log-loss",
            "failed_behaviour_cases": selection["failed_behaviour_cases"],
            "grid": selection["grid"],
            "cv_macro_f1": selection["grid"][describe(chosen)]["mean"],
            "cv_per_class_f1": selection["per_class_cv_f1"],
        },
        "test": classification_metrics(y_te, test_probs, DEFENSE_LEVELS),
        "test_predicted_counts": np.bincount(
            test_probs.argmax(1), minlength=len(DEFENSE_LEVELS)
        ).tolist(),
        "test_true_counts": np.bincount(y_te, minlength=len(DEFENSE_LEVELS)).tolist(),
        "majority_class_test_macro_f1": round(float(f1_score(y_te, majority, average="macro")), 4),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return write_metrics("defense", settings, head, metrics)
