"""Classifier latency, ONNX int8 vs PyTorch fp32, side by side in one run.

A "classifier" here is encoder + head, as served: the risk head on top of the sentence
encoder. Both runtimes get the same thread count (``settings.onnx_threads``) so the comparison
is fair; the PyTorch side is the exact fp32 module that was exported to ONNX at build time,
with the same head applied in numpy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from services.common.config import Settings

SENTENCES = (
    "I lost my job last week and I don't know how to tell my family.",
    "I feel like nobody would notice if I disappeared.",
    "Thanks for listening, I feel a bit better now.",
    "My girlfriend broke up with me and I can't stop thinking about her.",
)


def _timeit(fn: Callable[[], object], repeats: int, warmup: int = 5) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99


def run(settings: Settings, repeats: int = 100) -> str:
    """Measure, print and return the comparison table."""
    import torch

    from services.common.encoder import get_encoder
    from services.risk.classifier import RiskClassifier
    from solace.modelbuild import build_models, load_torch_encoder

    build_models(settings)
    threads = max(1, settings.onnx_threads)
    torch.set_num_threads(threads)
    encoder = get_encoder(settings)
    classifier = RiskClassifier(settings)
    reference = load_torch_encoder()
    # The head applied to torch embeddings: its own ONNX graph is tiny, the encoder dominates.
    head = classifier.head

    def torch_embed(texts: list[str]) -> np.ndarray:
        ids, mask = _pad(encoder.token_ids(texts))
        with torch.inference_mode():
            return reference(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    lines = [
        f"classifier = int8 all-MiniLM-L6-v2 encoder + risk head; threads: ONNX Runtime "
        f"intra-op = torch.set_num_threads = {threads}; {repeats} timed calls after 5 warm-up",
        f"{'batch':>5}  {'onnx int8 p50':>13}  {'p99':>8}  {'torch fp32 p50':>14}  {'p99':>8}  "
        f"{'speed-up':>8}",
    ]
    for batch in (1, 32):
        texts = [SENTENCES[i % len(SENTENCES)] for i in range(batch)]
        n = repeats if batch == 1 else max(10, repeats // 5)
        onnx_p50, onnx_p99 = _timeit(lambda t=texts: classifier.probabilities(t), n)
        torch_p50, torch_p99 = _timeit(lambda t=texts: head.probabilities(torch_embed(t)), n)
        lines.append(
            f"{batch:>5}  {onnx_p50:>10.2f} ms  {onnx_p99:>5.2f} ms  {torch_p50:>11.2f} ms  "
            f"{torch_p99:>5.2f} ms  {torch_p50 / onnx_p50:>7.2f}x"
        )
    quantised = encoder.embed(list(SENTENCES))
    full = torch_embed(list(SENTENCES))
    cosine = np.sum(quantised * full, axis=1) / (
        np.linalg.norm(quantised, axis=1) * np.linalg.norm(full, axis=1)
    )
    lines.append(
        f"embedding cosine int8 vs fp32: min {cosine.min():.4f}, mean {cosine.mean():.4f} "
        f"(target >= 0.98); speed-up target at batch 1: >= 3x"
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
