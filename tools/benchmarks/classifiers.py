"""Classifier latency, ONNX int8 vs PyTorch fp32, side by side in one run.

A "classifier" here is encoder + head, as served: the risk head on top of the sentence
encoder. Both runtimes get the same thread count (``settings.onnx_threads``) so the comparison
is fair; the PyTorch side is the exact fp32 module that was exported to ONNX at build time,
with the same head applied in numpy.

What is timed, row by row (``run``):

- **new text**: every call gets texts no call has sent before (``loadtests.messages.fresh_turn``)
  and the classifier calls the encoder directly, with no memo and no shared embeddings in
  front of it: what a request's newest seeker turn costs. The int8/fp32 speed-up is read here.
- **memo hit**: the serving classifier (its ``MemoEmbed``) on texts it has already seen, as
  the earlier turns of a conversation are: no encoder run, only the lookup and the head.
- **shared hit**: a fresh ``MemoEmbed`` per call over a ``SharedEmbeddings`` file that holds
  the texts, as a service reads a turn another service of the machine encoded.

Until 2026-12-03 this benchmark timed the serving classifier on four fixed sentences: after the
warm-up every call was a memo hit, so the "ONNX" column timed a dict lookup (0.01 ms) against
a real fp32 encoder run ("1365x").
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from services.common.config import Settings

SENTENCES = (
    "I lost my job last week and I don't know how to tell my family.",
    "I feel like nobody would notice if I disappeared.",
    "Thanks for listening, I feel a bit better now.",
    "My girlfriend broke up with me and I can't stop thinking about her.",
)
WARMUP = 5


def _timeit(fn: Callable[[int], object], repeats: int, warmup: int = WARMUP) -> tuple[float, float]:
    """p50 and p99 (ms) of ``fn(call)`` over ``repeats`` calls after ``warmup``; ``call`` counts
    from 0 across warm-up and timed calls, so a caller can hand each one its own inputs."""
    for call in range(warmup):
        fn(call)
    samples = []
    for call in range(warmup, warmup + repeats):
        start = time.perf_counter()
        fn(call)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99


def fresh_batches(batch: int, calls: int, seed: int = 0) -> list[list[str]]:
    """``calls`` batches of ``batch`` texts, no text twice in all of them: each call of the
    benchmark sees only text it has not seen (the sentences with a random opener, duration
    and close, as the load tests' new turns)."""
    from loadtests.messages import fresh_turn

    rng = random.Random(seed)
    seen: set[str] = set()
    batches = []
    for _ in range(calls):
        texts: list[str] = []
        while len(texts) < batch:
            text = fresh_turn(SENTENCES[len(seen) % len(SENTENCES)], rng)
            if text not in seen:
                seen.add(text)
                texts.append(text)
        batches.append(texts)
    return batches


def _row(label: str, onnx: tuple[float, float], torch: tuple[float, float] | None) -> str:
    left = f"{label:<34}  {onnx[0]:>10.2f} ms  {onnx[1]:>5.2f} ms"
    if torch is None:
        return left + f"  {'-':>14}  {'-':>8}  {'-':>8}"
    return left + f"  {torch[0]:>11.2f} ms  {torch[1]:>5.2f} ms  {torch[0] / onnx[0]:>7.2f}x"


def run(settings: Settings, repeats: int = 100) -> str:
    """Measure, print and return the comparison table."""
    import torch

    from services.common.encoder import EMBEDDING_DIM, get_encoder
    from services.common.features import MemoEmbed
    from services.common.shared_embeddings import SharedEmbeddings
    from services.risk.classifier import RiskClassifier
    from solace_cli.modelbuild import build_models, load_torch_encoder

    build_models(settings)
    threads = max(1, settings.onnx_threads)
    torch.set_num_threads(threads)
    # This process's classifiers share nothing with a platform running on the machine.
    settings = settings.with_overrides(shared_embeddings_dir="")
    # The risk classifier's own (fine-tuned) encoder in front of its head: no memo, no sharing.
    unmemoised = RiskClassifier(settings, memo=False)
    encoder = unmemoised.encoder
    serving = RiskClassifier(settings)  # with its MemoEmbed, as served
    # The fp32 reference is the shared encoder's source model: the same architecture and cost as
    # the fine-tuned one; the cosine row below compares the shared encoder with it.
    shared_encoder = get_encoder(settings)
    reference = load_torch_encoder()
    # The head applied to torch embeddings: its own ONNX graph is tiny, the encoder dominates.
    head = unmemoised.head

    def torch_embed(texts: list[str]) -> np.ndarray:
        ids, mask = _pad(encoder.token_ids(texts))
        with torch.inference_mode():
            return reference(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    lines = [
        f"classifier = int8 fine-tuned all-MiniLM-L6-v2 risk encoder + risk head (torch: "
        f"the fp32 source model, same architecture); threads: ONNX Runtime "
        f"intra-op = torch.set_num_threads = {threads}; timed calls after {WARMUP} warm-up",
        f"{'batch, path':<34}  {'onnx int8 p50':>13}  {'p99':>8}  {'torch fp32 p50':>14}  "
        f"{'p99':>8}  {'speed-up':>8}",
    ]
    with tempfile.TemporaryDirectory(prefix="solace-bench-") as scratch:
        shared = SharedEmbeddings(Path(scratch) / "shared.bin", EMBEDDING_DIM, 1024)
        for batch in (1, 32):
            n = repeats if batch == 1 else max(10, repeats // 5)
            # Separate fresh texts for each runtime: neither reads what the other encoded.
            onnx_texts = fresh_batches(batch, WARMUP + n, seed=batch)
            torch_texts = fresh_batches(batch, WARMUP + n, seed=1000 + batch)
            onnx = _timeit(lambda c, t=onnx_texts: unmemoised.probabilities(t[c]), n)
            fp32 = _timeit(lambda c, t=torch_texts: head.probabilities(torch_embed(t[c])), n)
            lines.append(_row(f"{batch:>5}  new text (encoder runs)", onnx, fp32))
            seen = onnx_texts[0]
            serving.probabilities(seen)  # now in the serving memo
            memo = _timeit(lambda _c, t=seen: serving.probabilities(t), n)
            lines.append(_row(f"{batch:>5}  memo hit (no encoder run)", memo, None))
            for text, vector in zip(seen, encoder.embed(seen), strict=True):
                shared.put(text, vector)

            def from_shared(_call: int, t: list[str] = seen) -> object:
                return head.probabilities(MemoEmbed(encoder.embed, shared=shared)(t))

            lines.append(
                _row(f"{batch:>5}  shared hit (no encoder run)", _timeit(from_shared, n), None)
            )
        shared.close()
    quantised = shared_encoder.embed(list(SENTENCES))
    full = torch_embed(list(SENTENCES))
    cosine = np.sum(quantised * full, axis=1) / (
        np.linalg.norm(quantised, axis=1) * np.linalg.norm(full, axis=1)
    )
    lines.append(
        f"embedding cosine int8 vs fp32: min {cosine.min():.4f}, mean {cosine.mean():.4f} "
        f"(target >= 0.98); speed-up target at batch 1, new text: >= 3x"
    )
    report = "\n".join(lines)
    print(report)
    return report


def _pad(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    width = max(r.size for r in rows)
    ids = np.zeros((len(rows), width), np.int64)
    mask = np.zeros((len(rows), width), np.int64)
    for i, r in enumerate(rows):
        ids[i, : r.size] = r
        mask[i, : r.size] = 1
    return ids, mask
